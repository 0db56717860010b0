//! ferry's own HTTP/1.1 server for plain client connections (north-south
//! and mesh): read a request head into the connection's buffer, parse it
//! (`request`), hand the request to the handler with its body (`body`),
//! write the response (`response`), and go on with the next request on the
//! connection (keep-alive and pipelining), until the client closes, asks to
//! close, or switches protocols (the stream is handed to the upgrade). TLS
//! and HTTP/2 connections are served by hyper (`server`).
//!
//! This is the common path of every request. hyper's server dispatch, its
//! per-connection buffers and the response body wrapper it needed cost a
//! tenth of the proxy's CPU; here one task does a request in straight-line
//! code, and header values share the read buffer.
//!
//! **Parking.** A connection idle for `GatewayConfig::park_after` (to twice
//! that: the timer is not reset per request, after traffic it runs once
//! more) gives back its read and write buffers, keeping only the bytes of
//! a request head cut short; what an idle keep-alive connection then costs
//! is its task, its socket and its [`ConnState`] (well under 1 KiB). A
//! head once begun must be complete within `GatewayConfig::header_timeout`,
//! parked or not, or the connection is closed.

mod body;
mod io;
pub(super) mod request;
mod response;

pub use body::RequestBody;
use ferry_core::sync::MutexExt;
pub use io::Upgraded;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, Request, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::handler;
use super::types::ConnState;
use body::{Handback, Reader};
use request::{Framing, Refused, RequestHead};
use response::{Asked, Sent};

/// How long a keep-alive connection waits for its next request before it
/// parks (the default of `GatewayConfig::park_after`).
pub const PARK_AFTER: Duration = Duration::from_millis(250);

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where the handler finds the client's stream once a `101` went out
/// (shared only because request extensions must be `Clone`).
#[derive(Debug, Clone)]
pub struct OnUpgrade(Arc<std::sync::Mutex<Option<oneshot::Receiver<Upgraded>>>>);

impl OnUpgrade {
    /// The receiver (once).
    pub fn take(&self) -> Option<oneshot::Receiver<Upgraded>> {
        self.0.lock_or_recover().take()
    }
}

/// One client connection.
struct Conn {
    gw: Arc<Inner>,
    state: Arc<ConnState>,
    /// The read half: away while a request body [`Reader`] has it.
    read: Option<OwnedReadHalf>,
    write: OwnedWriteHalf,
    buf: BytesMut,
    out: Vec<u8>,
    /// The idle timer (allocated on the first idle wait after parking).
    idle: Option<Pin<Box<Sleep>>>,
    /// When the request head begun in `buf` must be complete.
    head_deadline: Option<Pin<Box<Sleep>>>,
    /// A request arrived since the idle timer was (re)armed.
    active: bool,
    parked: bool,
}

/// Serves HTTP/1.1 on `stream` until the client is done or `shutdown`
/// (in-flight requests finish first).
pub(super) async fn serve(
    gw: Arc<Inner>,
    stream: TcpStream,
    state: Arc<ConnState>,
    shutdown: CancellationToken,
) {
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let (read, write) = stream.into_split();
    let mut c = Conn {
        gw,
        state,
        read: Some(read),
        write,
        buf: BytesMut::new(),
        out: Vec::new(),
        idle: None,
        head_deadline: None,
        active: false,
        parked: false,
    };
    loop {
        let head = match request::parse(&mut c.buf) {
            Ok(Some(head)) => {
                c.head_deadline = None;
                head
            }
            Ok(None) => {
                if !c.buf.is_empty() && c.head_deadline.is_none() {
                    // Rare: a head split across reads (or a slow client).
                    let at = Instant::now() + c.gw.config.header_timeout;
                    c.head_deadline = Some(Box::pin(tokio::time::sleep_until(at)));
                }
                if !c.read_more(cancelled.as_mut()).await {
                    return;
                }
                continue;
            }
            Err(Refused(status)) => {
                tracing::debug!(remote = %c.state.remote, %status, "request refused");
                let resp = super::respond::text(status.as_u16(), "");
                let asked = Asked {
                    version: http::Version::HTTP_11,
                    head_only: false,
                    close: true,
                };
                let refusal = Box::pin(async {
                    let _ = response::write(&mut c.write, &mut c.out, resp, None, asked).await;
                    io::linger_close(c.read.as_mut(), &mut c.write).await;
                });
                refusal.await;
                return;
            }
        };
        c.active = true;
        // One box per request holds the whole exchange (the handler's
        // future inline): this task stays small while it waits idle, and
        // is boxed in a statement of its own (a temporary in an awaited
        // expression would keep its room here too).
        let exchange = Box::pin(c.exchange(head, shutdown.is_cancelled()));
        let next = exchange.await;
        match next {
            Next::Request => {}
            Next::Close => {
                let linger = Box::pin(io::linger_close(c.read.as_mut(), &mut c.write));
                linger.await;
                return;
            }
            Next::Done => return,
            Next::Upgrade(tx) => {
                // The handler's copy task takes the stream from here.
                let Conn {
                    read, write, buf, ..
                } = c;
                if let Some(Ok(stream)) = read.map(|r| r.reunite(write)) {
                    let _ = tx.send(Upgraded {
                        pre: buf.freeze(),
                        stream,
                    });
                }
                return;
            }
        }
    }
}

/// What the connection does after a response.
enum Next {
    Request,
    /// Close after the client has had the response.
    Close,
    /// Nothing more to do (the connection failed).
    Done,
    /// A `101` went out: the stream goes to the upgrade.
    Upgrade(oneshot::Sender<Upgraded>),
}

impl Conn {
    /// Serves one request (an `async` block: see the `proxy` module docs).
    #[allow(clippy::manual_async_fn)]
    fn exchange(&mut self, head: RequestHead, shutting_down: bool) -> impl Future<Output = Next> {
        // The head's parts are used where they are (a local of their own
        // would take room in this future next to the captured head).
        async move {
            let (version, framing, keep_alive) = (head.version, head.framing, head.keep_alive);
            // Only a body still arriving takes the read side (and hands it back).
            let mut handback = None;
            let body = match (framing, self.read.take()) {
                (Framing::None, read) => {
                    self.read = read;
                    RequestBody::Empty
                }
                (Framing::Length(n), read) if self.buf.len() as u64 >= n => {
                    self.read = read;
                    RequestBody::Full(self.buf.split_to(n as usize).freeze())
                }
                (_, Some(read)) => {
                    if head.expect_continue {
                        // The body is not here yet: the client waits for this.
                        if self.write.write_all(CONTINUE).await.is_err() {
                            return Next::Done;
                        }
                    }
                    let side = (read, std::mem::take(&mut self.buf));
                    let back = handback.insert(Arc::new(Handback::default()));
                    RequestBody::Stream(Reader::new(side, framing, back.clone()))
                }
                (_, None) => return Next::Done,
            };
            let head_only = head.method == Method::HEAD;
            let mut upgrade_tx = None;
            // The request is made in a block of its own: it ends before the
            // await, so the future keeps no room for a moved-out request.
            let handled = {
                let mut req = Request::new(body);
                *req.method_mut() = head.method;
                *req.uri_mut() = head.uri;
                *req.version_mut() = version;
                *req.headers_mut() = head.headers;
                if head.upgrade {
                    let (tx, rx) = oneshot::channel();
                    req.extensions_mut()
                        .insert(OnUpgrade(Arc::new(std::sync::Mutex::new(Some(rx)))));
                    upgrade_tx = Some(tx);
                }
                handler::handle_raw(self.gw.clone(), self.state.clone(), req)
            };
            let (resp, raw) = handled.await;
            let mut close = !keep_alive || shutting_down;
            if let Some(handback) = handback {
                // The buffer comes back with the body's end; an unfinished body
                // leaves the connection unusable.
                match handback.take() {
                    Some((read, buf)) => (self.read, self.buf) = (Some(read), buf),
                    None => close = true,
                }
            }
            let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
            if switching && upgrade_tx.is_none() {
                close = true;
            }
            let asked = Asked {
                version,
                head_only,
                close,
            };
            let sent =
                response::write(&mut self.write, &mut self.out, resp, raw.as_ref(), asked).await;
            match sent {
                Err(e) => {
                    tracing::debug!(error = %e, remote = %self.state.remote, "writing the response failed");
                    Next::Done
                }
                Ok(_) if switching => match upgrade_tx {
                    Some(tx) => Next::Upgrade(tx),
                    None => Next::Close,
                },
                Ok(Sent::Close) => Next::Close,
                Ok(Sent::KeepAlive) => Next::Request,
            }
        }
    }

    /// Reads more of a request head; false when the connection is over
    /// (closed, failed, or shutting down between requests).
    async fn read_more(&mut self, mut cancelled: Pin<&mut impl Future<Output = ()>>) -> bool {
        poll_fn(|cx| self.poll_read_more(cx, cancelled.as_mut())).await
    }

    /// Reads what the socket has (true; false at its end or on an error);
    /// while it has nothing, watches for shutdown and parks when idle long
    /// enough.
    fn poll_read_more(
        &mut self,
        cx: &mut Context<'_>,
        cancelled: Pin<&mut impl Future<Output = ()>>,
    ) -> Poll<bool> {
        let Some(read) = self.read.as_mut() else {
            return Poll::Ready(false);
        };
        // A parked connection holds no buffer; the read allocates a small one.
        if !self.parked && self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(8 * 1024);
        }
        if let Poll::Ready(r) = tokio_util::io::poll_read_buf(Pin::new(read), cx, &mut self.buf) {
            if self.parked {
                self.parked = false;
                self.idle = None;
            }
            return Poll::Ready(matches!(r, Ok(n) if n > 0));
        }
        // No request is in flight (at most the start of a head): shutting
        // down closes the connection, and so does a head not completed in
        // time.
        if cancelled.poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        if let Some(deadline) = self.head_deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            tracing::debug!(remote = %self.state.remote, "request head not completed in time");
            return Poll::Ready(false);
        }
        if !self.parked && self.idle_expired(cx) {
            self.park();
        }
        Poll::Pending
    }

    /// The connection is idle: arms the timer on the first idle wait and
    /// reports whether the connection has now been idle long enough.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let park_after = self.gw.config.park_after;
        let sleep = self.idle.get_or_insert_with(|| {
            self.active = false;
            Box::pin(tokio::time::sleep_until(Instant::now() + park_after))
        });
        while sleep.as_mut().poll(cx).is_ready() {
            if !self.active {
                return true;
            }
            self.active = false;
            sleep.as_mut().reset(Instant::now() + park_after);
        }
        false
    }

    /// Gives back the buffers, keeping only the bytes of a head cut short.
    fn park(&mut self) {
        self.buf = BytesMut::from(&self.buf[..]);
        self.out = Vec::new();
        self.idle = None;
        self.parked = true;
        self.gw.metrics.parks.inc();
    }
}
