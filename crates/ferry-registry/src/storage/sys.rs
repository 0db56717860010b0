//! The registry's only kernel calls beyond `std`: starting and waiting for
//! writeback of a file range (`sync_file_range`, which neither `std`, `nix`
//! nor `rustix` wrap), read-ahead hints (`posix_fadvise`, through `nix`),
//! and read-only memory maps of installed blobs (`mmap`, through `memmap2`,
//! with `mincore` to see whether their pages are cached).
//!
//! The first two are hints for speed, never for safety: durability still
//! comes from the `fdatasync` before a blob is installed, so failures here
//! are ignored by the callers (a filesystem without the call just loses the
//! overlap).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

/// What [`sync_range`] should do with a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    /// Start writeback of the range's dirty pages and return without
    /// waiting (the disk works while the caller receives more bytes).
    Start,
    /// Write the range out and wait until it is on its way to the disk (not
    /// durable: no metadata, no cache flush), so dirty memory stays bounded.
    Wait,
}

/// `sync_file_range(2)` on `len` bytes of `file` from `offset`.
pub(crate) fn sync_range(file: &std::fs::File, offset: u64, len: u64, how: Sync) -> io::Result<()> {
    let flags = match how {
        Sync::Start => libc::SYNC_FILE_RANGE_WRITE,
        Sync::Wait => {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        }
    };
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: the descriptor is open for the duration of the call (borrowed
    // from `file`); the call only reads its integer arguments.
    let r = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Tells the kernel `file` will be read sequentially from start to end, so
/// it reads further ahead.
pub(crate) fn advise_sequential(file: &std::fs::File) {
    let _ = nix::fcntl::posix_fadvise(
        file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
    );
}

/// Maps `len` bytes of the installed blob `file` from `offset` read-only,
/// with any page not in the page cache read in now (on the blocking
/// thread), so the thread writing them to a socket only takes minor faults.
/// `offset + len` must not exceed the file's size (the caller checks it
/// first): a page past the end of a file cannot be read through a map.
pub(crate) fn map_blob(file: &std::fs::File, offset: u64, len: usize) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and `file` is a blob under `blobs/`.
    // Those are never written in place: a blob is written to a temporary
    // file, verified, fsynced and then renamed into `blobs/`, and GC
    // unlinks (a map keeps an unlinked file's pages), so the bytes behind
    // the map cannot change while it lives and nothing ferry does can
    // shorten the file under it. What remains is someone outside ferry
    // truncating a file in the data directory: reading a page past the
    // new end then raises SIGBUS and the process dies (ARCHITECTURE.md,
    // Registry). The range is within the file's size as the caller checked.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)?
    };
    // Pages not in the page cache yet (a blob not read since the server
    // started) are read in here, on the blocking thread: otherwise the
    // runtime thread writing the map to a socket would wait for the disk
    // in its page faults, stalling every task on that thread. Cached pages
    // (the usual case) are left to the writer's cheap minor faults.
    if !resident(&map) {
        let _ = map.advise(memmap2::Advice::WillNeed);
        let page = page_size();
        let mut sum = 0u8;
        for i in (0..map.len()).step_by(page) {
            sum = sum.wrapping_add(map[i]);
        }
        std::hint::black_box(sum);
    }
    Ok(map)
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize)
}

/// Whether every page of `map` is in the page cache (`mincore(2)`); false
/// when that cannot be told.
fn resident(map: &memmap2::Mmap) -> bool {
    if map.is_empty() {
        return true;
    }
    let page = page_size();
    let start = map.as_ptr() as usize;
    let aligned = start & !(page - 1);
    let len = start + map.len() - aligned;
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `[aligned, aligned + len)` lies within the pages of the live
    // map (memmap2 maps from the page boundary below the offset asked for),
    // and `vec` has one byte per page of that range, as mincore writes.
    let r = unsafe { libc::mincore(aligned as *mut libc::c_void, len, vec.as_mut_ptr()) };
    r == 0 && vec.iter().all(|b| b & 1 == 1)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn ranges_of_a_written_file_sync() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        sync_range(&f, 0, 1 << 19, Sync::Start).unwrap();
        sync_range(&f, 0, 1 << 20, Sync::Wait).unwrap();
        advise_sequential(&f);
        assert!(sync_range(&f, u64::MAX, 1, Sync::Start).is_err());
    }

    #[test]
    fn a_blob_maps_at_any_offset() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let m = map_blob(&f, 4099, 10_000).unwrap();
        assert_eq!(&m[..], &data[4099..14_099]);
        assert!(resident(&m), "just read in");
    }

    #[test]
    fn pages_dropped_from_the_cache_are_not_resident_until_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, vec![3u8; 1 << 20]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        f.sync_all().unwrap();
        // Clean pages can be dropped: then the map is not resident...
        let _ = nix::fcntl::posix_fadvise(
            &f,
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        );
        // SAFETY: a test file nothing else writes.
        let cold = unsafe { memmap2::MmapOptions::new().len(1 << 20).map(&f).unwrap() };
        if resident(&cold) {
            // Some filesystems (tmpfs) keep every page in memory.
            return;
        }
        drop(cold);
        // ...and `map_blob` reads it in before handing it out.
        let m = map_blob(&f, 0, 1 << 20).unwrap();
        assert!(resident(&m));
        assert!(m.iter().all(|&b| b == 3));
    }
}
