//! Decoding an HTTP/1.1 message body from the front of a connection's read
//! buffer, shared by both directions: an upstream response body
//! (`h1::body::Upstream`) and a client's request body
//! (`downstream::body::Reader`). [`Decoder`] is pure (Content-Length,
//! chunked, or until the peer closes); [`poll_fill`] is the one read that
//! feeds it; [`poll_body`] is the one `poll_frame` of both bodies, which
//! differ only in what a [`Source`] does when the body ends.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use tokio::io::AsyncRead;

use super::codec::{Chunked, Step};
use crate::proxy::types::BoxError;

/// Largest read for a body (a single frame is at most this big).
pub const READ: usize = 64 * 1024;

/// How much of a body is left to decode.
#[derive(Debug)]
pub enum Decoder {
    /// Exactly this many bytes more.
    Length(u64),
    Chunked(Chunked),
    /// Until the peer closes the connection.
    Eof,
}

/// One decoding step.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The body has ended.
    Done,
    /// The buffer holds nothing more to decode: read (about this much).
    NeedMore(u64),
}

impl Decoder {
    /// Decodes from the front of `buf`, consuming what it decodes.
    pub fn step(&mut self, buf: &mut BytesMut) -> io::Result<Decoded> {
        Ok(match self {
            Decoder::Length(0) => Decoded::Done,
            Decoder::Length(left) if buf.is_empty() => Decoded::NeedMore(*left),
            Decoder::Length(left) => {
                let take = (*left).min(buf.len() as u64);
                *left -= take;
                Decoded::Data(buf.split_to(take as usize).freeze())
            }
            Decoder::Chunked(chunked) => match chunked.step(buf)? {
                Step::Data(data) => Decoded::Data(data),
                Step::Done => Decoded::Done,
                Step::NeedMore => Decoded::NeedMore(READ as u64),
            },
            Decoder::Eof if buf.is_empty() => Decoded::NeedMore(READ as u64),
            Decoder::Eof => Decoded::Data(buf.split().freeze()),
        })
    }

    /// Whether the body is known to be complete (a length fully read), so
    /// its connection can be handed on before the next poll.
    pub fn is_complete(&self) -> bool {
        matches!(self, Decoder::Length(0))
    }

    /// Whether the peer closing the connection ends the body (rather than
    /// truncating it).
    pub fn ends_at_close(&self) -> bool {
        matches!(self, Decoder::Eof)
    }

    pub fn size_hint(&self) -> SizeHint {
        match self {
            Decoder::Length(n) => SizeHint::with_exact(*n),
            _ => SizeHint::default(),
        }
    }
}

/// Reads more into `buf` for a body that wants about `want` bytes (at most
/// [`READ`] at once); `Ok(0)` is the peer closing the connection.
pub fn poll_fill<R: AsyncRead + Unpin>(
    read: &mut R,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    want: u64,
) -> Poll<io::Result<usize>> {
    let want = want.clamp(1, READ as u64) as usize;
    if buf.capacity() - buf.len() < want.min(8 * 1024) {
        buf.reserve(want);
    }
    tokio_util::io::poll_read_buf(Pin::new(read), cx, buf)
}

/// A body decoded from a connection it holds until the body ends.
pub trait Source {
    type Read: AsyncRead + Unpin;

    /// The connection's read half and read buffer (`None` once the body
    /// has ended or failed), and the body's decoder.
    fn parts(&mut self) -> (Option<(&mut Self::Read, &mut BytesMut)>, &mut Decoder);
    /// The body has ended cleanly: the connection goes on.
    fn finish(&mut self);
    /// The body failed, or ended with the peer's close: the connection is
    /// dropped.
    fn drop_conn(&mut self);
    /// What the peer closing the connection before the end of the body means.
    fn truncated() -> io::Error;
}

/// `poll_frame` of a body read from its [`Source`]: decodes what the buffer
/// holds, reads more when it holds nothing, hands the connection on when
/// the body ends cleanly and drops it when it fails.
pub fn poll_body<S: Source>(
    src: &mut S,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    let fail = |src: &mut S, e: io::Error| {
        src.drop_conn();
        Poll::Ready(Some(Err(Box::new(e) as BoxError)))
    };
    loop {
        let (Some((read, buf)), decoder) = src.parts() else {
            return Poll::Ready(None);
        };
        let want = match decoder.step(buf) {
            Ok(Decoded::Data(data)) => {
                if decoder.is_complete() {
                    src.finish();
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Ok(Decoded::Done) => {
                src.finish();
                return Poll::Ready(None);
            }
            Ok(Decoded::NeedMore(want)) => want,
            Err(e) => return fail(src, e),
        };
        match ready!(poll_fill(read, cx, buf, want)) {
            // The close is the end of a close-delimited body; never reused.
            Ok(0) if decoder.ends_at_close() => {
                src.drop_conn();
                return Poll::Ready(None);
            }
            Ok(0) => return fail(src, S::truncated()),
            Ok(_) => {}
            Err(e) => return fail(src, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(mut d: Decoder, input: &[u8]) -> (Vec<Decoded>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match d.step(&mut buf).unwrap() {
                Decoded::Data(b) => out.push(Decoded::Data(b)),
                other => {
                    out.push(other);
                    return (out, buf);
                }
            }
        }
    }

    #[test]
    fn a_length_takes_exactly_its_bytes() {
        let (out, rest) = steps(Decoder::Length(3), b"abcNEXT");
        assert_eq!(out, [Decoded::Data("abc".into()), Decoded::Done]);
        assert_eq!(&rest[..], b"NEXT", "pipelined bytes are left");
        let (out, _) = steps(Decoder::Length(5), b"ab");
        assert_eq!(out, [Decoded::Data("ab".into()), Decoded::NeedMore(3)]);
    }

    #[test]
    fn chunked_and_close_delimited() {
        let (out, rest) = steps(
            Decoder::Chunked(Chunked::default()),
            b"2\r\nab\r\n0\r\n\r\nX",
        );
        assert_eq!(out, [Decoded::Data("ab".into()), Decoded::Done]);
        assert_eq!(&rest[..], b"X");
        let (out, _) = steps(Decoder::Eof, b"all");
        assert_eq!(
            out,
            [Decoded::Data("all".into()), Decoded::NeedMore(READ as u64)]
        );
    }
}
