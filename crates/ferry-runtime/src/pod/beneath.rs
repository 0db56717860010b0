//! Every host path ferry writes for a pod is opened beneath a directory it
//! owns (the pod's, a volume's) with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`: a `..` or a symlink planted by a container in a
//! volume that would lead outside fails with `EXDEV` instead of being
//! followed. Directories are created one component at a time relative to
//! their parent's descriptor, files are written to a temporary name and
//! renamed, both through descriptors, so nothing is resolved twice.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, renameat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{Gid, UnlinkatFlags, fchown, unlinkat};

fn resolve() -> ResolveFlag {
    ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

/// Opens the trusted directory `path` (created by ferry, no symlink).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY);
    Ok(openat2(nix::fcntl::AT_FDCWD, path, how)?)
}

/// Opens `rel` beneath `root` with `flags` (never leaving `root`).
pub fn open(root: impl AsFd, rel: &Path, flags: OFlag, mode: u32) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(Mode::from_bits_truncate(mode))
        .resolve(resolve());
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(openat2(root, rel, how)?)
}

/// Opens directory `rel` beneath `root`, creating missing components with
/// `mode` (and group `gid` with setgid, when given).
pub fn mkdir_all(root: impl AsFd, rel: &Path, mode: u32, gid: Option<u32>) -> io::Result<OwnedFd> {
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
    let mut cur = open(root.as_fd(), Path::new("."), dir_flags, 0)?;
    for c in rel.components() {
        let Component::Normal(name) = c else {
            if c == Component::CurDir {
                continue;
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} leaves its directory", rel.display()),
            ));
        };
        match mkdirat(&cur, name, Mode::from_bits_truncate(mode)) {
            Ok(()) => {
                let fd = open(&cur, Path::new(name), dir_flags | OFlag::O_NOFOLLOW, 0)?;
                own(&fd, mode, gid)?;
                cur = fd;
            }
            Err(Errno::EEXIST) => cur = open(&cur, Path::new(name), dir_flags, 0)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(cur)
}

/// Sets the mode (plus setgid with a group) and group of a new file or dir.
fn own(fd: &OwnedFd, mode: u32, gid: Option<u32>) -> io::Result<()> {
    if let Some(g) = gid {
        fchown(fd, None, Some(Gid::from_raw(g)))?;
    }
    let is_dir = File::from(fd.try_clone()?).metadata()?.is_dir();
    let setgid = if gid.is_some() && is_dir { 0o2000 } else { 0 };
    fchmod(fd, Mode::from_bits_truncate(mode | setgid))?;
    Ok(())
}

/// Reads file `rel` beneath `root`, `None` when it cannot be read.
pub fn read(root: impl AsFd, rel: &Path) -> Option<Vec<u8>> {
    let fd = open(root, rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW, 0).ok()?;
    let mut out = Vec::new();
    File::from(fd).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Reads file `rel` of an image's root filesystem as if `root` were `/`
/// (`RESOLVE_IN_ROOT`: absolute symlinks stay inside the image).
pub fn read_in_root(root: impl AsFd, rel: &Path) -> Option<Vec<u8>> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root, rel, how).ok()?;
    let mut out = Vec::new();
    File::from(fd).take(1 << 20).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Writes `data` to `rel` beneath `root` atomically (temporary name, then
/// rename in the same directory), creating parent directories (0755).
pub fn write(
    root: impl AsFd,
    rel: &Path,
    data: &[u8],
    mode: u32,
    gid: Option<u32>,
) -> io::Result<()> {
    let name = rel.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` names no file", rel.display()),
        )
    })?;
    let parent = mkdir_all(root, rel.parent().unwrap_or(Path::new("")), 0o755, gid)?;
    let tmp = format!("..{}.tmp", name.to_string_lossy());
    let _ = unlinkat(&parent, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = open(&parent, Path::new(&tmp), flags, mode)?;
    own(&fd, mode, gid)?;
    let mut f = File::from(fd);
    f.write_all(data)?;
    f.sync_all()?;
    renameat(&parent, tmp.as_str(), &parent, name)?;
    Ok(())
}

/// Removes entry `name` of `dir` (a file, a symlink or a directory tree),
/// never following a symlink.
pub fn remove(dir: impl AsFd, name: &str) -> io::Result<()> {
    match unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = open(
        dir.as_fd(),
        Path::new(name),
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
        0,
    )?;
    for n in entries(&sub)? {
        remove(&sub, &n)?;
    }
    unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir)?;
    Ok(())
}

/// The names in directory `dir` (listed through its descriptor's link).
pub fn entries(dir: impl AsFd) -> io::Result<Vec<String>> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd());
    Ok(std::fs::read_dir(link)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let (vol, outside) = (t.path().join("vol"), t.path().join("outside"));
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, vol.join("link")).unwrap();
        std::os::unix::fs::symlink("../outside", vol.join("rel")).unwrap();
        let root = open_dir(&vol).unwrap();
        for rel in ["link/x", "rel/x"] {
            let e = write(&root, Path::new(rel), b"pwned", 0o644, None).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{rel}: {e}");
        }
        let e = write(&root, Path::new("../outside/x"), b"pwned", 0o644, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = open(&root, Path::new("link"), OFlag::O_PATH, 0).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EXDEV),
            "a subPath through the link: {e}"
        );
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        write(&root, Path::new("a/b"), b"ok", 0o600, None).unwrap();
        assert_eq!(read(&root, Path::new("a/b")).unwrap(), b"ok");
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(vol.join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
        remove(&root, "link").unwrap();
        assert!(outside.exists());
        remove(&root, "a").unwrap();
        assert_eq!(entries(&root).unwrap(), vec!["rel".to_string()]);
    }
}
