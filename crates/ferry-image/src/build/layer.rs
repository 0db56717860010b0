//! A layer's content before it is written: entries by normalized path
//! (files, directories, symlinks, inline data and whiteouts), each with a
//! numeric owner. Both `ferry image build` and the Dockerfile builder
//! (`ferry-build`) assemble their layers here; [`write`] turns one into a
//! deterministic, compressed blob in the store.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use crate::error::{Error, Result};

mod write;

pub use write::FIXED_MTIME;

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    /// gzip at its fastest level: build steps write a layer per step, where
    /// CPU time matters more than a few percent of size.
    GzipFast,
    Zstd,
    None,
}

/// What one path of a layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    /// A file copied from the host (its content is read at build time).
    File {
        source: PathBuf,
        mode: u32,
    },
    /// A file with the given content.
    Data {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: String,
    },
    /// Deletes the path from lower layers: written as `.wh.<name>`, owned
    /// by root, mode 0644.
    Whiteout,
}

impl Entry {
    /// The permission bits the tar header carries (0777 for symlinks, 0
    /// for whiteouts, whose header is fixed when written).
    pub fn mode(&self) -> u32 {
        match self {
            Entry::Dir { mode } | Entry::File { mode, .. } | Entry::Data { mode, .. } => *mode,
            Entry::Symlink { .. } => 0o777,
            Entry::Whiteout => 0,
        }
    }
}

/// The numeric owner of an entry; no user or group names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// uid 0, gid 0.
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// A layer being assembled: paths (absolute inside the image) to entries
/// and their owners. [`Layer::insert`] adds missing parent directories
/// (root, mode 0755); [`Layer::put`] adds exactly one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    entries: BTreeMap<String, (Entry, Owner)>,
}

/// A layer written to the store.
#[derive(Debug, Clone)]
pub struct WrittenLayer {
    /// Descriptor of the compressed blob.
    pub descriptor: Descriptor,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (directories included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the layer has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `entry` at `path` (an image path like `/bin/sh`), owned by
    /// root, and its missing parent directories.
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<()> {
        let key = normalize(path)?;
        let mut parent = Path::new(&key).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries
                .entry(p.to_string_lossy().into_owned())
                .or_insert((Entry::Dir { mode: 0o755 }, Owner::ROOT));
            parent = p.parent();
        }
        self.entries.insert(key, (entry, Owner::ROOT));
        Ok(())
    }

    /// Adds (or replaces) exactly the entry at `path`, owned by `owner`,
    /// without parent directories: for layers whose parents come from
    /// lower layers or keep their own metadata (a build step's diff).
    pub fn put(&mut self, path: &str, entry: Entry, owner: Owner) -> Result<()> {
        self.entries.insert(normalize(path)?, (entry, owner));
        Ok(())
    }

    /// True when the layer has an entry at `path` (normalised like
    /// [`Layer::insert`]).
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|k| self.entries.contains_key(&k))
    }

    /// The entry at `path` and its owner.
    pub fn get(&self, path: &str) -> Option<(&Entry, Owner)> {
        let (e, o) = self.entries.get(&normalize(path).ok()?)?;
        Some((e, *o))
    }

    /// Entries in tar order: `(path without leading /, entry, owner)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry, Owner)> {
        self.entries.iter().map(|(p, (e, o))| (p.as_str(), e, *o))
    }

    /// Adds a host file at `dest`, keeping its permission bits. Symlinks
    /// are followed: the image gets the content.
    pub fn add_file(&mut self, source: &Path, dest: &str) -> Result<()> {
        let meta = fs::metadata(source).map_err(|e| Error::io("stat", source, e))?;
        self.insert(
            dest,
            Entry::File {
                source: source.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            },
        )
    }

    /// Adds a whole host directory tree under `dest`, keeping symlinks as
    /// symlinks and permission bits; other file types are refused.
    pub fn add_dir(&mut self, source: &Path, dest: &str) -> Result<()> {
        let meta = fs::metadata(source).map_err(|e| Error::io("stat", source, e))?;
        if !meta.is_dir() {
            return Err(Error::Build(format!(
                "{} is not a directory",
                source.display()
            )));
        }
        if !normalize(dest)?.is_empty() {
            self.insert(
                dest,
                Entry::Dir {
                    mode: meta.permissions().mode() & 0o7777,
                },
            )?;
        }
        let mut names: Vec<_> = fs::read_dir(source)
            .map_err(|e| Error::io("read directory", source, e))?
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| Error::io("read directory", source, e))?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let inner = format!("{}/{name}", dest.trim_end_matches('/'));
            let ft = e.file_type().map_err(|err| Error::io("stat", &path, err))?;
            if ft.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|err| Error::io("read link", &path, err))?;
                self.insert(
                    &inner,
                    Entry::Symlink {
                        target: target.to_string_lossy().into_owned(),
                    },
                )?;
            } else if ft.is_dir() {
                self.add_dir(&path, &inner)?;
            } else if ft.is_file() {
                self.add_file(&path, &inner)?;
            } else {
                return Err(Error::Build(format!(
                    "{}: only files, directories and symlinks can go into an image",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// `/a//b/./c/` → `a/b/c`; `..` is refused.
fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::Build(format!(
                    "image path `{path}` must not contain `..`"
                )));
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_dot_dot_refused() {
        assert!(normalize("/a/../b").is_err());
        assert_eq!(normalize("//a/./b/").unwrap(), "a/b");
    }
}
