//! Serving the region API on its listener: HTTP/1.1 and HTTP/2 (hyper-util's
//! auto builder) over plain TCP or over TLS (rustls), with the limits a
//! listener that may face a network needs:
//!
//! - **header-read timeout**: from the first byte of a request (or of the
//!   connection) to its complete head. A client trickling header bytes is
//!   closed when it runs out; a TLS handshake gets the same time.
//! - **idle timeout**: a keep-alive connection with no request in flight and
//!   no bytes arriving is closed after it.
//! - **connection cap**: at most `max_connections` are served at once. At the
//!   cap the listener stops accepting: new connections wait in the kernel's
//!   listen backlog (they are queued, not refused) until one closes, and a
//!   warning is logged (at most one per ten seconds).
//! - **graceful shutdown**: on the cancellation token the listener closes,
//!   idle connections close at once, in-flight requests finish, and
//!   connections still busy after `drain_timeout` are dropped.
//!
//! Every request carries a [`ConnInfo`] extension (local and peer address,
//! TLS or not) for the browser guard.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Limits and transport of one API listener.
#[derive(Clone)]
pub struct ServeConfig {
    /// Name in log lines (`api`).
    pub name: &'static str,
    /// Time from a request's first byte (or the connection's) to its whole head.
    pub header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long in-flight requests may run on after shutdown starts.
    pub drain_timeout: Duration,
    /// Serve HTTPS (ALPN h2 and http/1.1) when set.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("name", &self.name)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("drain_timeout", &self.drain_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for ServeConfig {
    /// 10 s for a head, 60 s idle, 512 connections, 30 s to drain, plain HTTP.
    fn default() -> Self {
        Self {
            name: "api",
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            drain_timeout: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// Facts about the connection a request came on (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub tls: bool,
}

/// Serves `app` on `listener` until `shutdown`, then drains (see the module
/// documentation). Returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: CancellationToken,
) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let tracker = tokio_util::task::TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let mut last_warn: Option<Instant> = None;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    last_warn = Some(Instant::now());
                    tracing::warn!(
                        listener = config.name,
                        max_connections = config.max_connections,
                        "connection cap reached: new connections wait in the listen backlog until one closes"
                    );
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                }
            }
        };
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(listener = config.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(remote);
        let conn = Connection {
            info: ConnInfo {
                local,
                remote,
                tls: config.tls.is_some(),
            },
            app: app.clone(),
            config: config.clone(),
            shutdown: shutdown.clone(),
            hard_stop: hard_stop.clone(),
        };
        tracker.spawn(async move {
            conn.run(stream).await;
            drop(permit);
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(config.drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = config.name,
            connections = tracker.len(),
            "requests still running after the drain timeout; closing their connections"
        );
        hard_stop.cancel();
        tracker.wait().await;
    }
}

// === impl Connection ===

struct Connection {
    info: ConnInfo,
    app: Router,
    config: Arc<ServeConfig>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

impl Connection {
    async fn run(self, stream: tokio::net::TcpStream) {
        let Some(tls) = self.config.tls.clone() else {
            return self.serve(stream).await;
        };
        let handshake = tokio::time::timeout(self.config.header_read_timeout, tls.accept(stream));
        let stream = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            r = handshake => match r {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.info.remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %self.info.remote, "TLS handshake timed out");
                    return;
                }
            },
        };
        self.serve(stream).await
    }

    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: stream,
            activity: activity.clone(),
        };
        let (app, info, act) = (self.app.clone(), self.info, activity.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            let guard = act.begin();
            req.extensions_mut().insert(info);
            let app = app.clone();
            async move {
                let resp = app
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                // The guard lives as long as the response body: a request is
                // in flight until its last byte is sent.
                Ok::<_, Infallible>(resp.map(|b| {
                    Body::new(b.map_frame(move |f| {
                        let _ = &guard;
                        f
                    }))
                }))
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client that half-closes after its request (`nc`, `curl -T -`)
        // still gets the answer.
        builder.http1().half_close(true);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut draining = false;
        loop {
            let deadline = activity.deadline(&self.config);
            let changed = activity.changed.notified();
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.info.remote, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = changed => {}
                _ = sleep_until(deadline.map(|d| d.0)), if deadline.is_some() && !draining => {
                    let why = deadline.map(|d| d.1).unwrap_or("idle");
                    tracing::debug!(peer = %self.info.remote, why, "closing connection");
                    if why == HEAD {
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
                _ = self.shutdown.cancelled(), if !draining => {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
                _ = self.hard_stop.cancelled() => return,
            }
        }
    }
}

const HEAD: &str = "header read timeout";

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

// === impl Activity ===

/// What a connection is doing, shared by its IO (bytes arriving) and its
/// service (requests starting and finishing).
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when a timer must be recomputed.
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    /// When the connection last became idle (no request in flight).
    idle_since: Instant,
    /// When the first byte of the next request arrived, while idle.
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: while idle, a new request head has started.
    fn bytes_read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request head was read: the request is in flight until the guard drops.
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.head_started = None;
        drop(s);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// The next timer and what it means: none while a request is in flight.
    fn deadline(&self, config: &ServeConfig) -> Option<(Instant, &'static str)> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        Some(match s.head_started {
            Some(t) => (t + config.header_read_timeout, HEAD),
            None => (s.idle_since + config.idle_timeout, "idle timeout"),
        })
    }
}

/// One request in flight; dropping it (with the response body) ends it.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight -= 1;
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
        drop(s);
        self.0.changed.notify_one();
    }
}

// === impl Watched ===

/// The connection's stream, reporting arriving bytes to its [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            me.activity.bytes_read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod tests;
