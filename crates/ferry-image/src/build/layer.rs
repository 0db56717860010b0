//! Deterministic layer tars: entries sorted by path, owner root, a fixed
//! mtime, no user or group names, so the same input always gives the same
//! bytes and therefore the same digest. The tar is hashed (the `diffID`)
//! and compressed (gzip, zstd or none) and hashed again (the blob digest)
//! in one streaming pass into the store.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, MediaType};

use crate::digest::{self, HashingWriter};
use crate::error::{Error, Result};
use crate::store::Store;

/// The modification time written for every entry (the epoch).
pub const FIXED_MTIME: u64 = 0;

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

impl Compression {
    fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }
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
}

/// A layer being assembled: paths (absolute inside the image) to entries.
/// Parent directories are added automatically (mode 0755).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    entries: BTreeMap<String, Entry>,
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

    /// Adds `entry` at `path` (an image path like `/bin/sh`).
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<()> {
        let key = normalize(path)?;
        let mut parent = Path::new(&key).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries
                .entry(p.to_string_lossy().into_owned())
                .or_insert(Entry::Dir { mode: 0o755 });
            parent = p.parent();
        }
        self.entries.insert(key, entry);
        Ok(())
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

    /// Writes the layer as a compressed blob into `store`.
    pub fn write(&self, store: &Store, compression: Compression) -> Result<WrittenLayer> {
        let tmp = store.ingest_path();
        let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let outer = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        let result = match compression {
            Compression::Gzip => {
                let enc = flate2::write::GzEncoder::new(outer, flate2::Compression::default());
                self.write_tar(enc)
                    .and_then(|(enc, diff_id)| Ok((enc.finish()?, diff_id)))
            }
            Compression::Zstd => {
                let enc = zstd::stream::write::Encoder::new(outer, 3)
                    .map_err(|e| Error::io("compress layer", &tmp, e))?;
                self.write_tar(enc)
                    .and_then(|(enc, diff_id)| Ok((enc.finish()?, diff_id)))
            }
            Compression::None => self.write_tar(outer),
        };
        let (outer, diff_id) = result.map_err(|e| Error::io("write layer", &tmp, e))?;
        let (buf, digest, size) = outer.finish();
        let file = buf
            .into_inner()
            .map_err(|e| Error::io("write layer", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        store.commit(&tmp, &digest)?;
        Ok(WrittenLayer {
            descriptor: Descriptor::new(compression.media_type(), size, digest::parse(&digest)?),
            diff_id,
        })
    }

    fn write_tar<W: Write>(&self, out: W) -> io::Result<(W, String)> {
        let mut tar = tar::Builder::new(HashingWriter::new(out));
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(FIXED_MTIME);
            h.set_uid(0);
            h.set_gid(0);
            match entry {
                Entry::Dir { mode } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{path}/"), io::empty())?;
                }
                Entry::File { source, mode } => {
                    let f = File::open(source)?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(f.metadata()?.len());
                    tar.append_data(&mut h, path, f)?;
                }
                Entry::Data { data, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    tar.append_data(&mut h, path, data.as_slice())?;
                }
                Entry::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    tar.append_link(&mut h, path, target)?;
                }
            }
        }
        let (out, diff_id, _) = tar.into_inner()?.finish();
        Ok((out, diff_id))
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
    fn same_input_same_digest_and_parents_added() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/b.txt"), "b").unwrap();
        fs::write(src.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
        let mut l = Layer::new();
        l.add_dir(&src, "/app").unwrap();
        assert!(l.entries.contains_key("app/sub"));
        let one = l.write(&store, Compression::Gzip).unwrap();
        // Touching mtimes changes nothing.
        fs::write(src.join("a.txt"), "a").unwrap();
        let mut l2 = Layer::new();
        l2.add_dir(&src, "/app").unwrap();
        let two = l2.write(&store, Compression::Gzip).unwrap();
        assert_eq!(one.descriptor.digest(), two.descriptor.digest());
        assert_eq!(one.diff_id, two.diff_id);
        let plain = l.write(&store, Compression::None).unwrap();
        assert_eq!(plain.descriptor.digest().to_string(), one.diff_id);
        assert!(normalize("/a/../b").is_err());
        assert_eq!(normalize("//a/./b/").unwrap(), "a/b");
    }
}
