//! Deterministic layer tars with owners and whiteouts, which is what a
//! build step needs beyond the image toolkit's `Layer`: entries sorted by
//! path, a fixed mtime, numeric owners only, `.wh.<name>` files for
//! deletions. The tar is hashed (diffID), gzip-compressed and hashed again
//! (blob digest) in one pass straight into the store's ingest directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use ferry_image::Store;
use ferry_image::digest::HashingWriter;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The mtime of every entry, for reproducible digests.
pub const FIXED_MTIME: u64 = 0;

/// What a path of a layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    /// A regular file whose content is read from the host at write time.
    File(PathBuf),
    /// A regular file with this content.
    Data(Vec<u8>),
    Symlink(String),
    /// `.wh.<name>`: deletes `<name>` from lower layers.
    Whiteout,
}

/// One entry; `path` is relative to the image root (`etc/passwd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub node: Node,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Entries keyed by image path (relative, no leading `/`).
pub type Entries = BTreeMap<String, Entry>;

/// A layer blob in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDesc {
    /// Digest of the gzip blob.
    pub digest: String,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
}

/// Adds `path`'s missing ancestors as root-owned 0755 directories.
pub fn add_parents(entries: &mut Entries, path: &str) {
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        entries.entry(parent.to_string()).or_insert(Entry {
            node: Node::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
        });
        p = parent;
    }
}

/// Writes `entries` as a gzip layer into `store`. A failure (a full disk)
/// leaves no partial file in the store's `ingest/`.
pub fn write_layer(store: &Store, entries: &Entries) -> Result<LayerDesc> {
    let tmp = store.ingest_path();
    write_layer_at(store, entries, &tmp).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn write_layer_at(store: &Store, entries: &Entries, tmp: &std::path::Path) -> Result<LayerDesc> {
    let io_err = |e: io::Error| Error::io(tmp, e);
    let file = File::create(tmp).map_err(io_err)?;
    let outer = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
    let gz = flate2::write::GzEncoder::new(outer, flate2::Compression::fast());
    let mut tar = tar::Builder::new(HashingWriter::new(gz));
    tar.follow_symlinks(false);
    for (path, e) in entries {
        append(&mut tar, path, e)
            .map_err(|err| Error::io(format!("{}: /{path}", tmp.display()), err))?;
    }
    let inner = tar.into_inner().map_err(io_err)?;
    let (gz, diff_id, _) = inner.finish();
    let outer = gz.finish().map_err(io_err)?;
    let (buf, digest, size) = outer.finish();
    let file = buf.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    store.commit(tmp, &digest).map_err(|e| Error::Image {
        context: "store layer".into(),
        message: e.to_string(),
    })?;
    Ok(LayerDesc {
        digest,
        diff_id,
        size,
    })
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, e: &Entry) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mtime(FIXED_MTIME);
    h.set_uid(e.uid.into());
    h.set_gid(e.gid.into());
    h.set_mode(e.mode);
    match &e.node {
        Node::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{path}/"), io::empty())
        }
        Node::File(src) => {
            let f = File::open(src)?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(f.metadata()?.len());
            tar.append_data(&mut h, path, f)
        }
        Node::Data(data) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, path, data.as_slice())
        }
        Node::Symlink(target) => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            tar.append_link(&mut h, path, target)
        }
        Node::Whiteout => {
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (format!("{d}/"), n),
                None => (String::new(), path),
            };
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(0);
            tar.append_data(&mut h, format!("{dir}.wh.{name}"), io::empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_entries_same_digest_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s")).unwrap();
        let mut e = Entries::new();
        e.insert(
            "a/b/c".into(),
            Entry {
                node: Node::Data(b"x".to_vec()),
                mode: 0o600,
                uid: 7,
                gid: 8,
            },
        );
        add_parents(&mut e, "a/b/c");
        e.insert(
            "gone".into(),
            Entry {
                node: Node::Whiteout,
                mode: 0,
                uid: 0,
                gid: 0,
            },
        );
        assert!(e.contains_key("a") && e.contains_key("a/b"));
        let one = write_layer(&store, &e).unwrap();
        let two = write_layer(&store, &e).unwrap();
        assert_eq!(one, two);
        let bytes = store.read_blob(&one.digest).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a/", "a/b/", "a/b/c", ".wh.gone"]);
    }
}
