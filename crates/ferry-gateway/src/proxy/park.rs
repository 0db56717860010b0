//! Parking idle HTTP/1.1 keep-alive connections. hyper keeps an 8 KiB read
//! buffer, an 8 KiB header write buffer and its connection state for as long
//! as a connection lives, so 10,000 idle keep-alive clients would cost
//! ~200 MB. Instead each run of requests is served by a boxed hyper
//! connection (an *episode*) over [`ParkIo`]: when hyper waits for the next
//! request head and the socket has nothing to read, `ParkIo` reports a
//! clean end of stream (no request is in flight, so hyper finishes without
//! an error and without shutting the socket down). The episode is dropped
//! with its buffers; the task keeps only the socket and waits for it to
//! become readable, then starts the next episode with the bytes hyper had
//! already read. A connection parks only after it has been idle for
//! `GatewayConfig::park_after` ([`PARK_AFTER`] by default) to twice that
//! (the timer is not reset per request; after traffic it runs once more):
//! a client that sends its next request promptly keeps its episode
//! (building one per request would cost a fifth of the throughput under
//! load). A request head cut short by the park (the client sent part
//! of it) makes hyper answer 400 and fail the episode: once parked, `ParkIo`
//! discards whatever hyper writes, and the unparsed bytes it hands back
//! start the next episode, so the client never sees the difference. What an
//! idle connection costs is then its task, its
//! socket registration and its [`ConnState`] (well under 1 KiB).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::server::ConnInfo;

/// One downstream connection as its requests see it: its facts, plus what
/// the service and the IO of a parked connection share.
#[derive(Debug)]
pub struct ConnState {
    pub info: ConnInfo,
    /// A request is being served: from the service call until hyper drops
    /// the response body (it has been written). Reads must then wait.
    busy: AtomicBool,
    /// A 101 response switched protocols: the stream is no longer HTTP.
    upgraded: AtomicBool,
    /// The client's address as an `X-Forwarded-For` element, formatted once.
    pub client_ip: http::HeaderValue,
}

impl ConnState {
    pub fn new(info: ConnInfo) -> Self {
        let client_ip = http::HeaderValue::try_from(info.remote.ip().to_string())
            .expect("an IP address is a valid header value");
        Self {
            info,
            busy: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            client_ip,
        }
    }

    /// A request head was parsed and handed to the service.
    pub fn start(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    /// The response switched protocols; never park this stream again.
    pub fn upgrade(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
    }

    fn parkable(&self) -> bool {
        !self.busy.load(Ordering::Relaxed) && !self.upgraded.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for ConnState {
    type Target = ConnInfo;

    fn deref(&self) -> &ConnInfo {
        &self.info
    }
}

/// How long a keep-alive connection waits for its next request before its
/// episode ends and it parks (the default of `GatewayConfig::park_after`).
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// The socket as the episode's hyper connection sees it: bytes read by the
/// previous episode first, then the socket; end of stream when idle.
#[derive(Debug)]
pub struct ParkIo {
    pub stream: TcpStream,
    pub pre: Bytes,
    pub state: Arc<ConnState>,
    /// Set when a read ended the episode because the connection was idle.
    pub parked: bool,
    /// The idle timer of this episode (allocated on its first idle wait,
    /// dropped with the episode). It is not reset per request: when it
    /// fires after traffic it runs once more, so an idle connection parks
    /// after between one and two `park_after`.
    pub idle: Option<Pin<Box<Sleep>>>,
    /// Bytes arrived since `idle` was (re)armed.
    pub active: bool,
    /// How long an idle connection waits before it parks.
    pub park_after: Duration,
}

impl ParkIo {
    pub fn new(stream: TcpStream, state: Arc<ConnState>, park_after: Duration) -> Self {
        Self {
            stream,
            pre: Bytes::new(),
            state,
            parked: false,
            idle: None,
            active: false,
            park_after,
        }
    }

    /// Ends an episode's parking: the connection is parked, its timer goes.
    pub fn unpark(&mut self) {
        self.parked = false;
        self.idle = None;
        self.active = false;
    }

    /// The connection is idle: arms the timer on the first idle read and
    /// reports whether the connection has now been idle long enough to park.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let park_after = self.park_after;
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
}

impl AsyncRead for ParkIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.pre.is_empty() {
            let n = this.pre.len().min(buf.remaining());
            buf.put_slice(&this.pre[..n]);
            this.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending if this.state.parkable() => {
                if !this.idle_expired(cx) {
                    // The timer (or the socket) wakes this read again.
                    return Poll::Pending;
                }
                // Idle long enough: end the episode. The readiness just
                // registered wakes the parked task instead.
                this.parked = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => {
                this.active = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for ParkIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.parked {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.parked {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.parked {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.parked {
            // The episode ended because we said so; the client is still there.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A response body that marks the request finished when hyper drops it
/// (after writing it, or on error).
pub struct Tracked<B> {
    pub body: B,
    pub state: Arc<ConnState>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.state.busy.store(false, Ordering::Relaxed);
    }
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
