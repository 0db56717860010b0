//! A response body streamed from an upstream HTTP/1.1 connection, read by
//! whichever task polls it (the downstream connection's): Content-Length,
//! chunked or close-delimited. When the body ends cleanly the connection
//! goes back to the pool; dropping the body early closes it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use super::codec::{Chunked, Framing};
use super::decode::{Decoder, Source, poll_body};
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
}

impl Source for Upstream {
    type Read = tokio::net::TcpStream;

    fn parts(&mut self) -> (Option<(&mut Self::Read, &mut BytesMut)>, &mut Decoder) {
        let conn = self.conn.as_mut().map(|c| (&mut c.stream, &mut c.buf));
        (conn, &mut self.decoder)
    }

    /// The connection goes back to the pool if it is clean.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.slot.release(conn, self.keep_alive);
        }
    }

    /// The connection is closed, not pooled.
    fn drop_conn(&mut self) {
        self.conn = None;
    }

    fn truncated() -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "upstream closed the connection in the middle of the body",
        )
    }
}

impl http_body::Body for Upstream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        poll_body(self.get_mut(), cx)
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.decoder.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}
