//! [`SmallFs`]: a tmpfs of a few MiB mounted on a fresh temporary directory
//! for tests that fill a disk (ENOSPC), unmounted on drop — also when the
//! test panics — so no mount outlives its test. Needs root (`mount(2)`).
//!
//! tmpfs rather than a loop-mounted ext4 image: it needs no image file, no
//! `mkfs` and no loop device, and it reports a full disk the same way at
//! the same place (`write(2)` fails with `ENOSPC` once the size is used up;
//! there is no delayed allocation to move the error to `fsync`).

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// A mounted tmpfs; see the module docs.
#[derive(Debug)]
pub struct SmallFs {
    /// Removed (by its own drop) after the unmount.
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `mib` MiB. Panics (with what to do) when mounting
    /// is not allowed.
    pub fn mount(mib: u64) -> SmallFs {
        let dir = crate::temp_dir();
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).expect("create mount point");
        let data = format!("size={}m,mode=0755", mib);
        mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .unwrap_or_else(|e| {
            panic!(
                "mount a {mib} MiB tmpfs on {}: {e} (run as root)",
                path.display()
            )
        });
        SmallFs { _dir: dir, path }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes still free.
    pub fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.path).expect("statvfs");
        s.blocks_available() as u64 * s.fragment_size() as u64
    }

    /// Writes a ballast file at `name` that leaves at most `leave` bytes
    /// free (a write to a full tmpfs stops short with ENOSPC, which ends
    /// the filling); returns its path.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        use std::io::Write;
        let p = self.path.join(name);
        let mut f = std::fs::File::create(&p).expect("create ballast");
        let chunk = vec![0xa5u8; 64 << 10];
        while self.free() > leave {
            let want = ((self.free() - leave) as usize).min(chunk.len());
            match f.write(&chunk[..want]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOSPC as i32) => break,
                Err(e) => panic!("fill {}: {e}", p.display()),
            }
        }
        p
    }

    /// Files under `dir` (relative to the mount), recursively, as paths
    /// relative to `dir`, sorted.
    pub fn files(&self, dir: &str) -> Vec<String> {
        fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
            let Ok(rd) = std::fs::read_dir(d) else { return };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let base = self.path.join(dir);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a file a failed test left open must not keep the mount.
        if let Err(e) = umount2(&self.path, MntFlags::MNT_DETACH) {
            eprintln!("unmount {}: {e}", self.path.display());
        }
    }
}
