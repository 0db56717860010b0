//! The runtime's only kernel module: network namespaces (create with
//! loopback up, run code inside one, remove) and the process calls pods
//! need (tmpfs and bind mounts of descriptors for volumes, unmounting all
//! under a pod). Everything goes through safe `nix` APIs except bringing the
//! loopback interface up, which needs one `ioctl`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::error::{Error, Result};

/// Creates a network namespace pinned at `path` (a bind mount of the nsfs
/// file), with only the loopback interface, brought up.
pub fn create_netns(path: &Path) -> Result<()> {
    std::fs::File::create(path).map_err(|e| Error::io("cannot create netns file", path, e))?;
    let target = path.to_path_buf();
    // A fresh thread unshares, so no other thread of ferry changes namespace.
    let joined = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::sys("unshare(CLONE_NEWNET)", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::sys(format!("bind-mount netns to {}", target.display()), e))?;
        loopback_up().map_err(|e| Error::io("cannot bring loopback up in", target.clone(), e))
    })
    .join();
    let result = joined.unwrap_or_else(|_| Err(Error::Other("netns thread panicked".into())));
    if result.is_err() {
        let _ = remove_netns(path);
    }
    result
}

/// Unmounts and removes a namespace created by [`create_netns`]. A missing
/// file is not an error.
pub fn remove_netns(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys(format!("umount {}", path.display()), e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove netns file", path, e)),
    }
}

/// True when `path` is a live namespace mount (survives a ferry restart).
pub fn netns_alive(path: &Path) -> bool {
    let Ok(ns) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(parent) = std::fs::metadata("/proc/self/ns/net") else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    // An nsfs inode lives on the nsfs device, unlike the plain file below it.
    ns.dev() == parent.dev() && ns.ino() != parent.ino()
}

/// Runs `f` on a fresh thread that first enters the network namespace at
/// `netns`; sockets created by `f` stay in that namespace.
pub async fn in_netns<T, F>(netns: PathBuf, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ferry-netns".into())
        .spawn(move || {
            let result = std::fs::File::open(&netns).and_then(|file| {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                f()
            });
            let _ = tx.send(result);
        })?;
    rx.await
        .map_err(|_| io::Error::other("netns thread ended without answering"))?
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in `req`
    // into `req.ifr_ifru`; `req` is a valid, writable ifreq and the socket fd
    // is open for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds `ifru_flags`; reading and
    // updating that member is what the kernel expects for SIOCSIFFLAGS.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads `req` (name and flags); same validity as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts an overlay of `lower` (read-only image) with `upper`/`work` at `target`.
pub fn mount_overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| Error::sys(format!("mount overlay at {}", target.display()), e))
}

/// Bind-mounts what the descriptor `source` refers to (opened beneath a
/// volume, so already resolved safely) onto `target`, through its
/// `/proc/self/fd` link: the mount cannot follow a symlink swapped in later.
pub fn bind_fd(source: &impl AsRawFd, target: &Path) -> Result<()> {
    let link = format!("/proc/self/fd/{}", source.as_raw_fd());
    mount(
        Some(link.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::sys(format!("bind-mount onto {}", target.display()), e))
}

/// Mounts a tmpfs of `size` bytes (mode 0755, noexec, nosuid, nodev) on the
/// directory open as `dir`, unless it already is a tmpfs; true when mounted.
pub fn mount_tmpfs(dir: &impl std::os::fd::AsFd, size: u64) -> Result<bool> {
    use nix::sys::statfs::{TMPFS_MAGIC, fstatfs};
    let fs = fstatfs(dir).map_err(|e| Error::sys("fstatfs", e))?;
    if fs.filesystem_type() == TMPFS_MAGIC {
        return Ok(false);
    }
    let link = format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd());
    let data = format!("size={size},mode=0755");
    mount(
        Some("tmpfs"),
        link.as_str(),
        Some("tmpfs"),
        MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .map_err(|e| Error::sys("mount tmpfs for a secret volume", e))?;
    Ok(true)
}

/// Lazily unmounts every mount at or below `dir` (deepest first), so that
/// removing `dir` never descends into a mounted volume.
pub fn unmount_under(dir: &Path) {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in points {
        unmount(&p);
    }
}

/// Mount points in mountinfo escape space, tab, newline and `\` as octal.
fn unescape_mount_path(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Lazily unmounts `target`; not mounted is fine.
pub fn unmount(target: &Path) {
    let _ = umount2(target, MntFlags::MNT_DETACH);
}

/// Makes ferry the reaper of orphaned descendants, so a container's init
/// (left behind by `runc run --detach`) reports its exit status to ferry.
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %e, "cannot become child subreaper; container exit codes will be unknown");
    }
}

/// What [`try_wait`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Running,
    /// Exit code (128 + signal for a signalled process).
    Exited(i32),
    /// Gone, but not our child (adopted after a restart): status unknown.
    Vanished,
}

/// Checks, without blocking, whether process `pid` has ended.
pub fn try_wait(pid: i32) -> Exit {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let p = nix::unistd::Pid::from_raw(pid);
    match waitpid(p, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Exit::Exited(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Exit::Exited(128 + sig as i32),
        Ok(_) => Exit::Running,
        Err(_) => {
            // Not our child: alive while /proc/<pid> exists and is no zombie.
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Ok(stat)
                    if !stat
                        .rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z') =>
                {
                    Exit::Running
                }
                _ => Exit::Vanished,
            }
        }
    }
}
