//! The IO a client connection needs beyond tokio's: the stream handed to
//! an upgrade (WebSocket) with the bytes already read past the head, a
//! lingering close, and the cached `Date` value.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Closes a connection the client may still be writing to: shuts the write
/// side (the client sees the end of the response), then reads and discards
/// for a moment (when the read half is here), so unread request bytes do
/// not make the kernel reset the connection before the client has read the
/// response.
pub async fn linger_close(read: Option<&mut OwnedReadHalf>, write: &mut OwnedWriteHalf) {
    let _ = write.shutdown().await;
    let Some(read) = read else { return };
    let mut scratch = BytesMut::with_capacity(16 * 1024);
    let drained = async {
        let mut total = 0;
        while total < 1024 * 1024 {
            scratch.clear();
            match read.read_buf(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drained).await;
}

/// A client connection after `101 Switching Protocols`: the bytes read
/// past the request head first, then the socket.
#[derive(Debug)]
pub struct Upgraded {
    pub pre: Bytes,
    pub stream: TcpStream,
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

thread_local! {
    /// The `Date` value of the current second (RFC 9110 §6.6.1: an origin
    /// with a clock sends one; ferry adds it to answers that lack one).
    static DATE: std::cell::Cell<(u64, [u8; 29])> = const { std::cell::Cell::new((0, [0; 29])) };
}

/// Appends the current `Date` value (IMF-fixdate, always 29 bytes),
/// formatted once per second per thread.
pub fn write_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (at, mut value) = DATE.get();
    if at != secs {
        let formatted = httpdate::fmt_http_date(now);
        if formatted.len() == value.len() {
            value.copy_from_slice(formatted.as_bytes());
            DATE.set((secs, value));
        }
    }
    out.extend_from_slice(&value);
}
