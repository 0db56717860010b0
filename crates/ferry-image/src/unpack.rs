//! Unpacking layers into a root filesystem, safely.
//!
//! Layers may be gzip, zstd or plain tar (detected from their first bytes).
//! OCI whiteouts (`.wh.<name>` deletes `<name>` from lower layers,
//! `.wh..wh..opq` empties a directory of lower-layer content) are applied;
//! a whiteout naming nothing (`.wh.`, `.wh..`, `.wh...`) is refused, since
//! it would remove the directory itself or the one above the root.
//! Every path is resolved inside the root the way `filepath-securejoin`
//! does it: `..` never climbs above the root and symlinks — including ones
//! planted by earlier entries — are followed *within* the root, so no entry
//! can write outside it. Absolute and `..` entry names are refused; device
//! nodes are skipped unless [`UnpackOptions::allow_devices`]. The unpacked
//! tar is hashed and checked against the layer's `diffID` when known.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::digest::{self, Hasher};
use crate::error::{Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// How layers are unpacked.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Create character and block devices (only sensible as root for a
    /// trusted image); otherwise they are skipped.
    pub allow_devices: bool,
    /// Keep owners from the archive (needs root; default: when root).
    pub preserve_ownership: Option<bool>,
}

/// What unpacking one layer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackReport {
    pub entries: u64,
    pub whiteouts: u64,
    pub skipped_devices: u64,
}

/// Unpacks one layer blob (compressed or not) from `reader` into `root`.
/// `layer` names it in errors; `diff_id`, when given, is checked.
pub fn unpack_layer(
    reader: impl Read,
    root: &Path,
    layer: &str,
    diff_id: Option<&str>,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let mut buffered = BufReader::with_capacity(1 << 20, reader);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::io("read layer", layer, e))?
        .to_vec();
    let tar: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| Error::io("read layer", layer, e))?,
        )
    } else {
        Box::new(buffered)
    };
    let mut hashing = HashingReader {
        inner: tar,
        hasher: Hasher::for_digest(diff_id.unwrap_or("sha256:")),
    };
    let report = unpack_tar(&mut hashing, root, layer, opts)?;
    // Drain padding after the end-of-archive marker so the hash covers it.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::io("read layer", layer, e))?;
    if let Some(expected) = diff_id {
        digest::verify(
            &format!("layer {layer} (diffID)"),
            expected,
            &hashing.hasher.finish(),
        )?;
    }
    Ok(report)
}

struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn unpack_tar(
    reader: impl Read,
    root: &Path,
    layer: &str,
    opts: &UnpackOptions,
) -> Result<UnpackReport> {
    let mut archive = tar::Archive::new(reader);
    let is_root = nix_is_root();
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(opts.preserve_ownership.unwrap_or(is_root));
    archive.set_unpack_xattrs(false);
    let mut report = UnpackReport::default();
    // Paths this layer wrote: whiteouts only remove lower-layer content.
    let mut ours: HashSet<PathBuf> = HashSet::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::io("read layer", layer, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io("read layer", layer, e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let fail = |message: String| Error::UnsafeLayer {
            layer: layer.to_string(),
            entry: raw.clone(),
            message,
        };
        let rel = clean_entry_path(&raw).map_err(|e| fail(e.to_string()))?;
        let Some(name) = rel.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = secure_join(root, parent_rel).map_err(|e| fail(e.to_string()))?;
        report.entries += 1;
        if name == OPAQUE {
            report.whiteouts += 1;
            clear_dir(&parent, &ours).map_err(|e| fail(format!("opaque whiteout: {e}")))?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            report.whiteouts += 1;
            // `.wh.`, `.wh..` and `.wh...` would name the directory itself
            // or its parent (`root/..`: outside the root).
            if !is_plain_name(hidden) {
                return Err(fail(format!(
                    "whiteout `{name}` names no entry (`{hidden}`): a whiteout hides one \
                     file or directory of its own directory; the layer is malformed or malicious"
                )));
            }
            let victim = parent.join(hidden);
            if !ours.contains(&victim) {
                remove_any(&victim).map_err(|e| fail(format!("whiteout: {e}")))?;
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if (kind.is_character_special() || kind.is_block_special()) && !opts.allow_devices {
            report.skipped_devices += 1;
            continue;
        }
        fs::create_dir_all(&parent).map_err(|e| fail(format!("create parent directory: {e}")))?;
        let dst = parent.join(&name);
        if let Ok(existing) = fs::symlink_metadata(&dst)
            && !(existing.is_dir() && kind.is_dir())
        {
            remove_any(&dst).map_err(|e| fail(format!("replace: {e}")))?;
        }
        if kind.is_hard_link() {
            let target_raw = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let target_rel = clean_entry_path(&target_raw).map_err(|e| fail(e.to_string()))?;
            let target = secure_join(root, target_rel.parent().unwrap_or(Path::new("")))
                .map_err(|e| fail(e.to_string()))?
                .join(target_rel.file_name().unwrap_or_default());
            fs::hard_link(&target, &dst)
                .map_err(|e| fail(format!("hard link to {target_raw}: {e}")))?;
        } else {
            entry
                .unpack(&dst)
                .map_err(|e| fail(format!("unpack: {e}")))?;
        }
        ours.insert(dst);
    }
    Ok(report)
}

/// True for a single ordinary path component (not empty, `.` or `..`).
fn is_plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(n)), None) if n == name
    )
}

/// Entry name → a relative path with no `..`; absolute names are refused
/// (`./` and a single leading `/` as tar writes them are accepted).
fn clean_entry_path(raw: &str) -> Result<PathBuf> {
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    let unsafe_path = |reason| Error::UnsafePath {
        path: raw.into(),
        reason,
    };
    let mut out = PathBuf::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path("contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path("is absolute")),
        }
    }
    Ok(out)
}

/// `root/rel` with every symlink on the way resolved *inside* `root`
/// (absolute targets are relative to `root`, `..` stops at `root`). The
/// result has no symlink components, so writing below it stays inside.
pub fn secure_join(root: &Path, rel: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<PathBuf> = rel
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match part.to_str() {
            Some("/") | Some(".") | Some("") => continue,
            Some("..") => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(&resolved).join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(Error::UnsafePath {
                        path: rel.to_path_buf(),
                        reason: "has too many levels of symbolic links",
                    });
                }
                let target =
                    fs::read_link(&candidate).map_err(|e| Error::io("read link", &candidate, e))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    pending.push_front(PathBuf::from(c.as_os_str()));
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(root.join(resolved))
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn clear_dir(dir: &Path, keep: &HashSet<PathBuf>) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries {
        let p = e?.path();
        if !keep.contains(&p) {
            remove_any(&p)?;
        }
    }
    Ok(())
}

fn nix_is_root() -> bool {
    // /proc/self belongs to the effective uid of the process.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
