//! The connection watchdog behind the listener's timeouts: [`Watched`]
//! wraps a connection's stream and notes when bytes arrive, the service
//! counts requests in flight ([`Activity::request_started`], held until the
//! response body is sent or dropped), and [`Activity::expired`] resolves
//! when the connection has outstayed its welcome:
//! - no request in flight and a head begun (a byte received since the last
//!   response) for longer than the header timeout;
//! - no request in flight and nothing received for the idle timeout.
//!
//! A request in flight is never timed out here (a large blob may take long).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What a connection is doing, shared by its stream, service and watchdog.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `start` when the last request ended (or 0).
    idle_since: AtomicU64,
    /// Milliseconds since `start` + 1 when the first byte of the next head
    /// arrived, 0 while none has.
    head_started: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn received(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.head_started.load(Relaxed) == 0 {
            self.head_started.store(self.now_ms() + 1, Relaxed);
        }
    }

    /// A request reached the service; the guard ends it.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        self.head_started.store(0, Relaxed);
        InFlight(self.clone())
    }

    /// Resolves with the reason once the connection timed out.
    pub(super) async fn expired(&self, header: Duration, idle: Duration) -> &'static str {
        let (header, idle) = (header.as_millis() as u64, idle.as_millis() as u64);
        loop {
            let now = self.now_ms();
            let (deadline, why) = if self.in_flight.load(Relaxed) > 0 {
                (now + header.min(idle), "")
            } else {
                match self.head_started.load(Relaxed) {
                    0 => (self.idle_since.load(Relaxed) + idle, "idle timeout"),
                    began => (began - 1 + header, "request head timeout"),
                }
            };
            if !why.is_empty() && now >= deadline {
                return why;
            }
            tokio::time::sleep_until(self.start + Duration::from_millis(deadline.max(now + 1)))
                .await;
        }
    }
}

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since.store(a.now_ms(), Relaxed);
        a.in_flight.fetch_sub(1, Relaxed);
    }
}

/// `resp` with `guard` held until its body is sent (or dropped).
pub(super) fn hold_until_sent(resp: Response, guard: InFlight) -> Response {
    resp.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _held = &guard;
            frame
        }))
    })
}

/// A stream that reports received bytes to its [`Activity`].
#[derive(Debug)]
pub(super) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_head_idle_and_in_flight_requests() {
        let (header, idle) = (Duration::from_secs(2), Duration::from_secs(10));
        let a = Activity::new();
        // Idle from the start: closed after the idle timeout.
        let t0 = Instant::now();
        assert_eq!(a.expired(header, idle).await, "idle timeout");
        assert_eq!(t0.elapsed(), idle);
        // A head begun must complete within the header timeout.
        a.received();
        let t1 = Instant::now();
        assert_eq!(a.expired(header, idle).await, "request head timeout");
        assert_eq!(t1.elapsed(), header);
        // While a request is in flight nothing expires.
        let guard = a.request_started();
        let r = tokio::time::timeout(Duration::from_secs(100), a.expired(header, idle)).await;
        assert!(r.is_err(), "a request in flight timed out");
        drop(guard);
        let t2 = Instant::now();
        assert_eq!(a.expired(header, idle).await, "idle timeout");
        assert_eq!(t2.elapsed(), idle);
    }
}
