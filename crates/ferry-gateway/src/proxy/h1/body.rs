//! A response body streamed from an upstream HTTP/1.1 connection, read by
//! whichever task polls it (the downstream connection's): Content-Length,
//! chunked or close-delimited. When the body ends cleanly the connection
//! goes back to the pool; dropping the body early closes it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::codec::{Chunked, Framing, Step};
use super::{Conn, Slot};
use crate::proxy::client::BoxError;

/// Largest read for a body (a single frame is at most this big).
const READ: usize = 64 * 1024;

#[derive(Debug)]
enum Left {
    Length(u64),
    Chunked(Chunked),
    Eof,
}

/// The body of an upstream response, still arriving.
#[derive(Debug)]
pub struct Upstream {
    slot: Arc<Slot>,
    conn: Option<Conn>,
    left: Left,
    keep_alive: bool,
}

impl Upstream {
    pub(super) fn new(slot: Arc<Slot>, conn: Conn, framing: Framing, keep_alive: bool) -> Self {
        let left = match framing {
            Framing::Empty => Left::Length(0),
            Framing::Length(n) => Left::Length(n),
            Framing::Chunked => Left::Chunked(Chunked::default()),
            Framing::Eof => Left::Eof,
        };
        Self {
            slot,
            conn: Some(conn),
            left,
            keep_alive,
        }
    }

    /// The body is complete: the connection is reusable if it is clean.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.slot.release(conn, self.keep_alive);
        }
    }

    /// Ends the body with `e`; the connection is closed, not pooled.
    fn fail(&mut self, e: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.conn = None;
        Poll::Ready(Some(Err(e)))
    }

    /// Reads more from the connection; `Ok(0)` is the server closing it.
    fn poll_fill(conn: &mut Conn, cx: &mut Context<'_>, want: u64) -> Poll<io::Result<usize>> {
        let want = want.clamp(1, READ as u64) as usize;
        if conn.buf.capacity() - conn.buf.len() < want.min(8 * 1024) {
            conn.buf.reserve(want);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut conn.stream), cx, &mut conn.buf)
    }
}

fn truncated() -> BoxError {
    Box::new(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "upstream closed the connection in the middle of the body",
    ))
}

impl http_body::Body for Upstream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            // Serve what the buffer holds; else how much to read next.
            let want = match &mut this.left {
                Left::Length(0) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Left::Length(left) => {
                    if !conn.buf.is_empty() {
                        let take = (*left).min(conn.buf.len() as u64);
                        let data = conn.buf.split_to(take as usize).freeze();
                        *left -= take;
                        if *left == 0 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    *left
                }
                Left::Chunked(decoder) => match decoder.step(&mut conn.buf) {
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Step::Done) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Step::NeedMore) => READ as u64,
                    Err(e) => return this.fail(Box::new(e)),
                },
                Left::Eof => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    READ as u64
                }
            };
            match ready!(Self::poll_fill(conn, cx, want)) {
                // The close is the end of a close-delimited body; never pooled.
                Ok(0) if matches!(this.left, Left::Eof) => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => return this.fail(truncated()),
                Ok(_) => {}
                Err(e) => return this.fail(Box::new(e)),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || matches!(self.left, Left::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Left::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}
