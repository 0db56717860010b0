//! Request bodies as the handler sees them, from either server: none, the
//! whole body when it arrived with the head (a slice of the read buffer),
//! a body still arriving on an HTTP/1.1 connection ([`Reader`], read by
//! whichever task polls it), or hyper's body (TLS and HTTP/2 connections).
//!
//! A [`Reader`] owns the connection's read half and read buffer while it
//! reads; when the body has ended it hands both, with any pipelined bytes
//! after the body, back to the connection through a [`Handback`]. A body
//! dropped unfinished hands nothing back (unless the rest is already
//! buffered), and the connection closes after its response.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use ferry_core::sync::MutexExt;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::net::tcp::OwnedReadHalf;

use super::request::Framing;
use crate::proxy::h1::codec::Chunked;
use crate::proxy::h1::decode::{Decoder, Source, poll_body};
use crate::proxy::types::BoxError;

/// A request body.
#[derive(Debug)]
pub enum RequestBody {
    Empty,
    /// All of it (taken by the first poll).
    Full(Bytes),
    /// Still arriving on the connection.
    Stream(Reader),
    /// hyper's (HTTPS and HTTP/2 connections).
    Hyper(Incoming),
}

/// The read side of a connection: the socket's read half and the bytes
/// read from it but not used yet.
pub type ReadSide = (OwnedReadHalf, BytesMut);

/// Where a finished [`Reader`] leaves the connection's read side.
#[derive(Debug, Default)]
pub struct Handback(Mutex<Option<ReadSide>>);

impl Handback {
    /// The read side, if the body ended cleanly.
    pub fn take(&self) -> Option<ReadSide> {
        self.0.lock_or_recover().take()
    }

    fn put(&self, side: ReadSide) {
        *self.0.lock_or_recover() = Some(side);
    }
}

/// A body still arriving on a client's HTTP/1.1 connection.
#[derive(Debug)]
pub struct Reader {
    /// The read half (`None` once the body has ended or failed).
    read: Option<OwnedReadHalf>,
    buf: BytesMut,
    decoder: Decoder,
    handback: Arc<Handback>,
}

impl Reader {
    pub fn new(side: ReadSide, framing: Framing, handback: Arc<Handback>) -> Self {
        let decoder = match framing {
            Framing::None => Decoder::Length(0),
            Framing::Length(n) => Decoder::Length(n),
            Framing::Chunked => Decoder::Chunked(Chunked::default()),
        };
        let (read, buf) = side;
        Self {
            read: Some(read),
            buf,
            decoder,
            handback,
        }
    }
}

impl Source for Reader {
    type Read = OwnedReadHalf;

    fn parts(&mut self) -> (Option<(&mut OwnedReadHalf, &mut BytesMut)>, &mut Decoder) {
        let side = self.read.as_mut().map(|r| (r, &mut self.buf));
        (side, &mut self.decoder)
    }

    /// The read side (and pipelined bytes) goes back.
    fn finish(&mut self) {
        if let Some(read) = self.read.take() {
            self.handback.put((read, std::mem::take(&mut self.buf)));
        }
    }

    /// Nothing is handed back: the connection closes after the response.
    fn drop_conn(&mut self) {
        self.read = None;
    }

    fn truncated() -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the client closed the connection in the middle of the request body",
        )
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Unread but already here (a handler that answered without reading
        // a small body): skip it, so the connection can go on.
        if let Decoder::Length(n) = self.decoder
            && self.read.is_some()
            && self.buf.len() as u64 >= n
        {
            self.buf.advance(n as usize);
            self.finish();
        }
    }
}

impl http_body::Body for Reader {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        poll_body(self.get_mut(), cx)
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_none() || self.decoder.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        match self.read {
            Some(_) => self.decoder.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(b) if b.is_empty() => Poll::Ready(None),
            RequestBody::Full(b) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(b))))),
            RequestBody::Stream(r) => Pin::new(r).poll_frame(cx),
            RequestBody::Hyper(b) => Pin::new(b)
                .poll_frame(cx)
                .map_err(|e| Box::new(e) as BoxError),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(b) => b.is_empty(),
            RequestBody::Stream(r) => r.is_end_stream(),
            RequestBody::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(b) => SizeHint::with_exact(b.len() as u64),
            RequestBody::Stream(r) => r.size_hint(),
            RequestBody::Hyper(b) => b.size_hint(),
        }
    }
}
