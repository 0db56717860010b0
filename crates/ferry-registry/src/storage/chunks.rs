//! Reading a file out as a stream of large chunks on a blocking thread.
//!
//! Serving a blob through `tokio::fs::File` costs a blocking-pool round trip
//! and an extra copy per read, and reads only when the socket asks for more.
//! Here one blocking task reads ahead in [`CHUNK`]-sized pieces straight into
//! the buffers the response sends, at most [`AHEAD`] chunks in front of the
//! socket, so disk reads overlap network writes and memory stays bounded.
//! The task stops as soon as the receiver is dropped (client gone).
//!
//! The buffers come back once the response has sent them ([`Pooled`]), so a
//! download allocates (and the kernel zeroes and maps) a few buffers, not a
//! fresh one per chunk.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ByteStream;
use crate::error::{Error, Result};

/// Bytes per read and per body chunk.
pub(crate) const CHUNK: usize = 256 << 10;
/// Chunks read ahead of the socket.
const AHEAD: usize = 2;
/// Buffers a download keeps for reuse: those queued, the one being read and
/// the ones the connection is still writing.
const POOLED: usize = AHEAD + 3;

/// Spare read buffers of one download.
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

/// A chunk read from the file; its buffer goes back to the download's pool
/// when the response is done with it.
struct Pooled {
    buf: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Ok(mut spare) = self.pool.lock()
            && spare.len() < POOLED
        {
            spare.push(buf);
        }
    }
}

/// Streams `len` bytes of the opened file `file` (at `path`, for errors)
/// from `offset`. A file shorter than `offset + len` ends the stream with an
/// error, so a truncated body is never mistaken for a whole one.
pub(crate) fn stream_file(
    mut file: std::fs::File,
    path: PathBuf,
    offset: u64,
    len: u64,
) -> ByteStream {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes>>(AHEAD);
    tokio::task::spawn_blocking(move || {
        // Blob downloads read the file front to back: let the kernel read
        // further ahead than its default.
        super::sys::advise_sequential(&file);
        if offset > 0
            && let Err(e) = file.seek(SeekFrom::Start(offset))
        {
            let _ = tx.blocking_send(Err(Error::io(&path, e)));
            return;
        }
        let pool = Pool::default();
        let mut left = len;
        while left > 0 {
            let want = left.min(CHUNK as u64);
            let reused = pool.lock().ok().and_then(|mut spare| spare.pop());
            // `read_to_end` fills the spare capacity without zeroing it first.
            // (Sized to the chunk: a small blob needs no 256 KiB buffer.)
            let mut buf = reused.unwrap_or_else(|| Vec::with_capacity(want as usize));
            let read = (&mut file).take(want).read_to_end(&mut buf);
            let failed = match read {
                Ok(n) if n as u64 == want => None,
                Ok(_) => Some(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("blob ended {} bytes early", left - buf.len() as u64),
                )),
                Err(e) => Some(e),
            };
            if let Some(e) = failed {
                let _ = tx.blocking_send(Err(Error::io(&path, e)));
                return;
            }
            left -= want;
            let chunk = Bytes::from_owner(Pooled {
                buf,
                pool: pool.clone(),
            });
            if tx.blocking_send(Ok(chunk)).is_err() {
                return; // the client went away
            }
        }
    });
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[cfg(test)]
mod tests {
    use futures_util::TryStreamExt;

    use super::*;

    async fn collect(s: ByteStream) -> Result<Vec<u8>> {
        let chunks: Vec<Bytes> = s.try_collect().await?;
        Ok(chunks.concat())
    }

    #[tokio::test]
    async fn streams_ranges_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 123)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let open = || std::fs::File::open(&path).unwrap();
        let all = collect(stream_file(open(), path.clone(), 0, data.len() as u64));
        assert_eq!(all.await.unwrap(), data);
        let mid = CHUNK as u64 - 10;
        let part = collect(stream_file(open(), path.clone(), mid, CHUNK as u64 + 20));
        assert_eq!(
            part.await.unwrap(),
            &data[mid as usize..mid as usize + CHUNK + 20]
        );
        let empty = collect(stream_file(open(), path.clone(), 0, 0));
        assert!(empty.await.unwrap().is_empty());
    }

    #[test]
    fn a_sent_chunk_gives_its_buffer_back() {
        let pool = Pool::default();
        let mut buf = Vec::with_capacity(CHUNK);
        buf.extend_from_slice(b"chunk");
        let chunk = Bytes::from_owner(Pooled {
            buf,
            pool: pool.clone(),
        });
        let sent = chunk.slice(1..); // the connection may hold a part
        drop(chunk);
        assert!(pool.lock().unwrap().is_empty(), "still in use");
        assert_eq!(&sent[..], b"hunk");
        drop(sent);
        let spare = pool.lock().unwrap().pop().expect("returned");
        assert!(spare.is_empty() && spare.capacity() >= CHUNK);
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_ends_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"short").unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let err = collect(stream_file(f, path.clone(), 0, 100)).await;
        assert!(
            err.is_err(),
            "a truncated read is an error, not a short body"
        );
    }
}
