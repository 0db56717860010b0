//! The durable write path: appending a request body to an upload file, and
//! the small helpers every atomic write uses (write + fsync, rename + fsync
//! of the directory).
//!
//! An upload must be on disk before it is installed as a blob, so each
//! append ends with `fdatasync`. Waiting for a gigabyte of dirty pages at
//! that point would leave the disk idle while the bytes arrive and the
//! client idle while they are flushed, so writeback runs *during* the
//! upload: every [`WINDOW`] bytes the writer starts writeback of what it
//! just wrote, and it lets at most [`IN_FLIGHT`] bytes be under writeback
//! before waiting for the oldest ([`Writeback`]). The final `fdatasync` then
//! finds almost nothing left to write. Body chunks go to disk as they came
//! off the socket (one `writev` per batch, no copying into a buffer) and are
//! hashed on the way, so a commit never reads the file back.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;

use super::ByteStream;
use super::sys::{Sync, sync_range};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, Result};

/// Bytes of body chunks gathered before they are handed to the writer:
/// small enough to stay in the writer core's cache between hashing a batch
/// and copying it into the page cache, and to keep peak RSS where it was
/// with a copying 256 KiB batch (the chunks pin the connection's buffers).
const BATCH: usize = 256 << 10;
/// Batches queued for the writer (bounds memory per upload).
const QUEUED: usize = 2;
/// Bytes written between two starts of writeback.
pub(crate) const WINDOW: u64 = 8 << 20;
/// Bytes whose writeback may be started and not yet waited for.
pub(crate) const IN_FLIGHT: u64 = 32 << 20;
/// Bytes per read when a file has to be hashed from disk.
const READ: usize = 1 << 20;

// === impl Writeback ===

/// Which ranges of a growing file to start writing back, and which to wait
/// for, as the file grows. Pure bookkeeping; [`append_to`] does the calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Writeback {
    window: u64,
    in_flight: u64,
    /// Writeback was started for everything before this offset.
    started: u64,
    /// Writeback was waited for everything before this offset.
    waited: u64,
}

/// A `(offset, len)` range of a file.
pub(crate) type Range = (u64, u64);

impl Writeback {
    /// Bookkeeping for a file that already holds `from` bytes.
    pub(crate) fn new(from: u64, window: u64, in_flight: u64) -> Self {
        Self {
            window: window.max(1),
            in_flight,
            started: from,
            waited: from,
        }
    }

    /// The file now holds `end` bytes: the range whose writeback to start
    /// (once a whole window is new) and the range to wait for (what is
    /// more than `in_flight` bytes behind).
    pub(crate) fn written(&mut self, end: u64) -> (Option<Range>, Option<Range>) {
        if end < self.started + self.window {
            return (None, None);
        }
        let start = (self.started, end - self.started);
        self.started = end;
        let wait = self.started.saturating_sub(self.in_flight);
        if wait <= self.waited {
            return (Some(start), None);
        }
        let range = (self.waited, wait - self.waited);
        self.waited = wait;
        (Some(start), Some(range))
    }
}

// === appending ===

/// What [`append_to`] did: the hasher, whether it covers exactly the file
/// (the old bytes and the new ones), the bytes written, and the first error.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) hasher: Hasher,
    pub(crate) hashed: bool,
    pub(crate) written: u64,
    pub(crate) result: Result<()>,
}

/// Appends `body` to `file` (opened for appending, `size` bytes long),
/// hashing it into `hasher` when `hashing`, then makes it durable. Bytes
/// written before a body error stay (and are synced), so a client can
/// resume; the body error is the result then.
pub(crate) async fn append_to(
    file: std::fs::File,
    path: PathBuf,
    size: u64,
    hasher: Hasher,
    hashing: bool,
    mut body: ByteStream,
) -> Result<Appended> {
    // A writer thread writes and hashes batches while this task receives
    // the next ones; the channel bounds memory to a few batches (peak RSS
    // with several layers uploading at once).
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUED);
    let wpath = path.clone();
    let writer =
        tokio::task::spawn_blocking(move || write_batches(file, &wpath, size, hasher, hashing, rx));
    let (mut batch, mut batched) = (Vec::new(), 0);
    let mut body_err = None;
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => {
                batched += chunk.len();
                batch.push(chunk);
                if batched >= BATCH {
                    batched = 0;
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        // The writer failed (its error is reported): read
                        // on a little, so a client still sending its body
                        // gets the answer rather than a reset connection.
                        drain(&mut body).await;
                        break;
                    }
                }
            }
            Err(e) => {
                body_err = Some(e);
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
    drop(tx);
    let mut appended = writer
        .await
        .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    if let (Ok(()), Some(e)) = (&appended.result, body_err) {
        appended.result = Err(e);
    }
    Ok(appended)
}

/// Bytes of a body read and dropped after a failed write, at most.
const DRAIN: usize = 16 << 20;
/// Time spent reading them, at most.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads and drops what is left of `body`, up to [`DRAIN`] bytes or
/// [`DRAIN_FOR`]; the error answer closes the connection after it.
async fn drain(body: &mut ByteStream) {
    let mut left = DRAIN;
    let _ = tokio::time::timeout(DRAIN_FOR, async {
        while let Some(Ok(chunk)) = body.next().await {
            match left.checked_sub(chunk.len()) {
                Some(l) => left = l,
                None => break,
            }
        }
    })
    .await;
}

/// The writer thread of [`append_to`].
fn write_batches(
    mut file: std::fs::File,
    path: &Path,
    size: u64,
    mut hasher: Hasher,
    mut hashing: bool,
    mut rx: tokio::sync::mpsc::Receiver<Vec<Bytes>>,
) -> Appended {
    let mut written = 0u64;
    let mut writeback = Writeback::new(size, WINDOW, IN_FLIGHT);
    let mut result = Ok(());
    while let Some(batch) = rx.blocking_recv() {
        // Hash first: the batch comes from another core's cache (or
        // memory), and hashing streams it in at its own pace; the copy into
        // the page cache that follows then reads it from this core's cache
        // (measured: that copy cost more than the hashing when done first).
        if hashing {
            for chunk in &batch {
                hasher.update(chunk);
            }
        }
        if let Err(e) = write_all(&mut file, &batch) {
            // Part of the batch may be on disk: the hash no longer matches.
            hashing = false;
            result = Err(Error::io(path, e));
            break;
        }
        written += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        // Hints only: the fdatasync below is what makes the bytes durable.
        let (start, wait) = writeback.written(size + written);
        if let Some((offset, len)) = start {
            let _ = sync_range(&file, offset, len, Sync::Start);
        }
        if let Some((offset, len)) = wait {
            let _ = sync_range(&file, offset, len, Sync::Wait);
        }
    }
    drop(rx); // a failed write stops the receiving task
    let synced = file.sync_data().map_err(|e| Error::io(path, e));
    Appended {
        hasher,
        hashed: hashing,
        written,
        result: result.and(synced),
    }
}

/// Writes every chunk, in order, with as few `writev` calls as the kernel
/// allows.
fn write_all(file: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    /// `IOV_MAX` on Linux.
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut left = &mut slices[..];
    IoSlice::advance_slices(&mut left, 0);
    while !left.is_empty() {
        let n = left.len().min(MAX_SLICES);
        match file.write_vectored(&left[..n]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// === helpers for atomic writes ===

/// Renames `from` to `to` (creating `to`'s directory) and fsyncs the directory.
pub(crate) fn install(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().expect("installed paths have a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    sync_dir(dir)
}

/// Fsyncs a directory, so renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Creates `path` holding `bytes`, durably; on failure (a full disk) the
/// part written is removed.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(path);
        Error::io(path, e)
    })
}

/// Writes `bytes` to the staging file `tmp` and installs it as `dest`
/// ([`write_synced`], [`install`]); nothing is left in `tmp/` when either
/// fails.
pub(crate) fn write_installed(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    write_synced(tmp, bytes)?;
    install(tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(tmp);
    })
}

/// Hashes a file from disk (uploads this process did not hash as they came).
pub(crate) fn hash_file(path: &Path, alg: Algorithm) -> Result<Digest> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    super::sys::advise_sequential(&f);
    let mut h = alg.hasher();
    let mut buf = vec![0u8; READ];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writeback_starts_each_window_and_waits_for_what_is_too_far_behind() {
        let mut w = Writeback::new(0, 10, 20);
        assert_eq!(w.written(9), (None, None), "less than a window");
        assert_eq!(w.written(12), (Some((0, 12)), None));
        assert_eq!(w.written(21), (None, None));
        assert_eq!(w.written(25), (Some((12, 13)), Some((0, 5))));
        assert_eq!(w.written(40), (Some((25, 15)), Some((5, 15))));
        // One big write: start all of it, wait for all but the last 20.
        assert_eq!(w.written(100), (Some((40, 60)), Some((20, 60))));
        assert_eq!(w.written(100), (None, None), "nothing new");
    }

    #[test]
    fn writeback_of_an_appended_upload_starts_at_its_old_end() {
        let mut w = Writeback::new(1000, 10, 0);
        assert_eq!(w.written(1005), (None, None));
        assert_eq!(w.written(1010), (Some((1000, 10)), Some((1000, 10))));
    }

    #[test]
    fn write_all_writes_every_chunk_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunks: Vec<Bytes> = (0..3000u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i % 7) as usize]))
            .collect();
        write_all(&mut f, &chunks).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), chunks.concat());
    }
}
