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

use super::codec::{Chunked, Framing};
use super::decode::{Decoded, Decoder, poll_fill};
use super::{Conn, Slot};
use crate::proxy::types::BoxError;

/// The body of an upstream response, still arriving.
#[derive(Debug)]
pub struct Upstream {
    slot: Arc<Slot>,
    conn: Option<Conn>,
    decoder: Decoder,
    keep_alive: bool,
}

impl Upstream {
    pub(super) fn new(slot: Arc<Slot>, conn: Conn, framing: Framing, keep_alive: bool) -> Self {
        let decoder = match framing {
            Framing::Empty => Decoder::Length(0),
            Framing::Length(n) => Decoder::Length(n),
            Framing::Chunked => Decoder::Chunked(Chunked::default()),
            Framing::Eof => Decoder::Eof,
        };
        Self {
            slot,
            conn: Some(conn),
            decoder,
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
            let want = match this.decoder.step(&mut conn.buf) {
                Ok(Decoded::Data(data)) => {
                    if this.decoder.is_complete() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Decoded::Done) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Decoded::NeedMore(want)) => want,
                Err(e) => return this.fail(Box::new(e)),
            };
            match ready!(poll_fill(&mut conn.stream, cx, &mut conn.buf, want)) {
                // The close is the end of a close-delimited body; never pooled.
                Ok(0) if this.decoder.ends_at_close() => {
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
        self.conn.is_none() || self.decoder.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}
