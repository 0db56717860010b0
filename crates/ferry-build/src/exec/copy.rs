//! COPY and ADD: turning sources (build context, another stage's or
//! image's root filesystem, here-documents, local tarballs) into layer
//! entries at the destination, with `--chown` and `--chmod` applied and
//! `.dockerignore` honoured. A source that leaves the context (`..`, or a
//! symlink pointing outside) is refused.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use sha2::{Digest, Sha256};

use crate::error::InputError;
use crate::ignore::Ignore;
use ferry_image::build::layer::{Entry, Layer, Owner};

/// Where sources are read from.
#[derive(Debug)]
pub struct Source<'a> {
    /// The root sources are relative to (context dir or a rootfs).
    pub root: &'a Path,
    /// `.dockerignore` rules (context only).
    pub ignore: Option<&'a Ignore>,
    /// Sources are from a root filesystem: absolute paths are inside it and
    /// symlinks resolve within it.
    pub is_rootfs: bool,
}

/// Ownership and permission overrides.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

/// Cleans a source path; `None` when it climbs above the root.
pub fn clean_rel(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Every path below `root` (relative, sorted), skipping ignored ones.
fn walk_all(
    root: &Path,
    rel: &str,
    ignore: Option<&Ignore>,
    out: &mut Vec<String>,
) -> Result<(), InputError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| InputError::io(&dir, e))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if ignore.is_some_and(|i| i.excluded(&r)) {
            continue;
        }
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.push(r.clone());
        if is_dir {
            walk_all(root, &r, ignore, out)?;
        }
    }
    Ok(())
}

/// The sources named by `src` (a path or a glob), relative to the root.
pub fn expand_source(source: &Source<'_>, src: &str) -> Result<Vec<String>, InputError> {
    let src_name = || src.to_string();
    let Some(rel) = clean_rel(src) else {
        return Err(InputError::OutsideContext { src: src_name() });
    };
    if has_glob(&rel) {
        let glob = GlobBuilder::new(&rel)
            .literal_separator(true)
            .build()
            .map_err(|source| InputError::Pattern {
                src: src_name(),
                source,
            })?
            .compile_matcher();
        let mut all = Vec::new();
        walk_all(source.root, "", source.ignore, &mut all)?;
        let hits: Vec<String> = all.into_iter().filter(|p| glob.is_match(p)).collect();
        if hits.is_empty() {
            return Err(InputError::NoMatch { src: src_name() });
        }
        return Ok(hits);
    }
    if !rel.is_empty() && source.ignore.is_some_and(|i| i.excluded(&rel)) {
        return Err(InputError::Ignored { src: src_name() });
    }
    Ok(vec![rel])
}

/// The host path of `rel`, checked to stay inside the root.
fn host_path(source: &Source<'_>, rel: &str, src: &str) -> Result<PathBuf, InputError> {
    if source.is_rootfs {
        return ferry_image::unpack::secure_join(source.root, Path::new(rel)).map_err(|e| {
            InputError::Rootfs {
                src: src.to_string(),
                source: e,
            }
        });
    }
    let p = source.root.join(rel);
    let canon = p.canonicalize().map_err(|_| InputError::NotFound {
        src: src.to_string(),
    })?;
    let root = source
        .root
        .canonicalize()
        .map_err(|e| InputError::io(source.root, e))?;
    if !canon.starts_with(&root) {
        return Err(InputError::Escapes {
            src: src.to_string(),
            resolved: canon,
        });
    }
    Ok(canon)
}

/// Adds `rel` from `source` to `out` at `dest` (an image path without the
/// leading `/`). Directories contribute their contents.
pub fn add_source(
    source: &Source<'_>,
    rel: &str,
    src: &str,
    dest: &str,
    dest_is_dir: bool,
    attrs: Attrs,
    out: &mut Layer,
) -> Result<(), InputError> {
    let host = host_path(source, rel, src)?;
    let meta = fs::metadata(&host).map_err(|source| InputError::Source {
        src: src.to_string(),
        source,
    })?;
    if meta.is_dir() {
        if !dest.is_empty() {
            put(out, dest, dir_entry(&meta, attrs), attrs)?;
        }
        add_tree(source, &host, rel, dest, attrs, out)
    } else {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let target = if dest_is_dir {
            join(dest, name)
        } else {
            dest.to_string()
        };
        put(out, &target, file_entry(host, &meta, attrs), attrs)
    }
}

fn add_tree(
    source: &Source<'_>,
    dir: &Path,
    rel: &str,
    dest: &str,
    attrs: Attrs,
    out: &mut Layer,
) -> Result<(), InputError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| InputError::io(dir, e))?
        .filter_map(|e| e.ok())
        .collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if source.ignore.is_some_and(|i| i.excluded(&r)) {
            continue;
        }
        let path = e.path();
        let meta = fs::symlink_metadata(&path).map_err(|err| InputError::io(&path, err))?;
        let d = join(dest, &name);
        let ft = meta.file_type();
        if ft.is_symlink() {
            let t = fs::read_link(&path).map_err(|err| InputError::io(&path, err))?;
            let target = t.to_string_lossy().into_owned();
            put(out, &d, Entry::Symlink { target }, attrs)?;
        } else if ft.is_dir() {
            put(out, &d, dir_entry(&meta, attrs), attrs)?;
            add_tree(source, &path, &r, &d, attrs, out)?;
        } else if ft.is_file() {
            put(out, &d, file_entry(path, &meta, attrs), attrs)?;
        }
    }
    Ok(())
}

/// The mode `--chmod` gives, else the source's permission bits.
fn mode(meta: &fs::Metadata, attrs: Attrs) -> u32 {
    attrs.chmod.unwrap_or(meta.permissions().mode() & 0o7777)
}

fn dir_entry(meta: &fs::Metadata, attrs: Attrs) -> Entry {
    Entry::Dir {
        mode: mode(meta, attrs),
    }
}

fn file_entry(source: PathBuf, meta: &fs::Metadata, attrs: Attrs) -> Entry {
    Entry::File {
        source,
        mode: mode(meta, attrs),
    }
}

/// Adds `entry` at `path` owned as `--chown` says.
pub fn put(out: &mut Layer, path: &str, entry: Entry, attrs: Attrs) -> Result<(), InputError> {
    let owner = Owner {
        uid: attrs.uid,
        gid: attrs.gid,
    };
    out.put(path, entry, owner).map_err(InputError::Layer)
}

/// `a` + `b` as an image path (no leading `/`).
pub fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// True when `path` starts like a tar archive (plain, gzip, bzip2 or xz
/// compressed): ADD extracts those.
pub fn is_archive(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 262];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// A digest over the entries and the content of every file: the cache key
/// input of a COPY step.
pub fn entries_digest(layer: &Layer) -> Result<String, InputError> {
    let mut h = Sha256::new();
    for (path, e, o) in layer.iter() {
        h.update(format!("{path}\0{:o}\0{}\0{}\0", e.mode(), o.uid, o.gid).as_bytes());
        match e {
            Entry::Dir { .. } => h.update(b"d"),
            Entry::Whiteout => h.update(b"w"),
            Entry::Symlink { target } => h.update(format!("l{target}").as_bytes()),
            Entry::Data { data, .. } => {
                h.update(b"f");
                h.update(Sha256::digest(data));
            }
            Entry::File { source: p, .. } => {
                let mut f = fs::File::open(p).map_err(|err| InputError::io(p, err))?;
                let size = f.metadata().map(|m| m.size()).unwrap_or(0);
                let mut fh = Sha256::new();
                std::io::copy(&mut f, &mut fh).map_err(|err| InputError::io(p, err))?;
                h.update(format!("f{size}").as_bytes());
                h.update(fh.finalize());
            }
        }
        h.update(b"\n");
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_refuses_escapes() {
        assert_eq!(clean_rel("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(clean_rel("a/../b").as_deref(), Some("b"));
        assert_eq!(clean_rel("../x"), None);
        assert_eq!(clean_rel("/").as_deref(), Some(""));
    }

    #[test]
    fn symlink_out_of_context_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("ctx");
        fs::create_dir_all(&ctx).unwrap();
        fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", ctx.join("link")).unwrap();
        let src = Source {
            root: &ctx,
            ignore: None,
            is_rootfs: false,
        };
        let mut out = Layer::new();
        let err =
            add_source(&src, "link", "link", "x", false, Attrs::default(), &mut out).unwrap_err();
        assert!(matches!(&err, InputError::Escapes { src, .. } if src == "link"));
        assert!(
            err.to_string().contains("outside the build context"),
            "{err}"
        );
        assert!(matches!(
            expand_source(&src, "../secret").unwrap_err(),
            InputError::OutsideContext { .. }
        ));
    }

    #[test]
    fn globs_and_ignore() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a.txt", "b.txt", "c.md", "sub/d.txt"] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        let ig = Ignore::parse("i", "b.txt\n").unwrap();
        let src = Source {
            root: d.path(),
            ignore: Some(&ig),
            is_rootfs: false,
        };
        assert_eq!(expand_source(&src, "*.txt").unwrap(), vec!["a.txt"]);
        let ignored = expand_source(&src, "b.txt").unwrap_err();
        assert!(ignored.to_string().contains(".dockerignore"), "{ignored}");
        let mut out = Layer::new();
        add_source(
            &src,
            "",
            ".",
            "app",
            true,
            Attrs {
                uid: 5,
                gid: 6,
                chmod: Some(0o600),
            },
            &mut out,
        )
        .unwrap();
        let keys: Vec<&str> = out.iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            keys,
            vec!["app", "app/a.txt", "app/c.md", "app/sub", "app/sub/d.txt"]
        );
        let (entry, owner) = out.get("app/a.txt").unwrap();
        assert_eq!((owner.uid, owner.gid), (5, 6));
        assert_eq!(entry.mode(), 0o600);
    }
}
