//! Writes a [`Layer`] as a deterministic tar: entries sorted by path, a
//! fixed mtime, numeric owners only, `.wh.<name>` files for deletions, so
//! the same input always gives the same bytes and therefore the same
//! digest. The tar is hashed (the `diffID`) and compressed (gzip, zstd or
//! none) and hashed again (the blob digest) in one streaming pass into the
//! store.

use std::fs::File;
use std::io::{self, Write};

use oci_spec::image::{Descriptor, MediaType};

use super::{Compression, Entry, Layer, Owner, WrittenLayer};
use crate::digest::{self, HashingWriter};
use crate::error::{Error, Result};
use crate::store::Store;

/// The modification time written for every entry (the epoch).
pub const FIXED_MTIME: u64 = 0;

impl Compression {
    fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip | Compression::GzipFast => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }
}

impl Layer {
    /// Writes the layer as a compressed blob into `store`. A failure (a
    /// full disk) leaves no partial file in the store's `ingest/`.
    pub fn write(&self, store: &Store, compression: Compression) -> Result<WrittenLayer> {
        let tmp = store.ingest_path();
        self.write_at(store, compression, &tmp).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    fn write_at(
        &self,
        store: &Store,
        compression: Compression,
        tmp: &std::path::Path,
    ) -> Result<WrittenLayer> {
        let file = File::create(tmp).map_err(|e| Error::io("create", tmp, e))?;
        let outer = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
        let result = match compression {
            Compression::Gzip | Compression::GzipFast => {
                let level = if compression == Compression::GzipFast {
                    flate2::Compression::fast()
                } else {
                    flate2::Compression::default()
                };
                let enc = flate2::write::GzEncoder::new(outer, level);
                self.write_tar(enc)
                    .and_then(|(enc, diff_id)| Ok((enc.finish()?, diff_id)))
            }
            Compression::Zstd => {
                let enc = zstd::stream::write::Encoder::new(outer, 3)
                    .map_err(|e| Error::io("compress layer", tmp, e))?;
                self.write_tar(enc)
                    .and_then(|(enc, diff_id)| Ok((enc.finish()?, diff_id)))
            }
            Compression::None => self.write_tar(outer),
        };
        let (outer, diff_id) = result.map_err(|e| Error::io("write layer", tmp, e))?;
        let (buf, digest, size) = outer.finish();
        let file = buf
            .into_inner()
            .map_err(|e| Error::io("write layer", tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io("fsync", tmp, e))?;
        store.commit(tmp, &digest)?;
        Ok(WrittenLayer {
            descriptor: Descriptor::new(compression.media_type(), size, digest::parse(&digest)?),
            diff_id,
        })
    }

    fn write_tar<W: Write>(&self, out: W) -> io::Result<(W, String)> {
        let mut tar = tar::Builder::new(HashingWriter::new(out));
        for (path, (entry, owner)) in &self.entries {
            append(&mut tar, path, entry, *owner)?;
        }
        let (out, diff_id, _) = tar.into_inner()?.finish();
        Ok((out, diff_id))
    }
}

/// Appends one entry with a fixed mtime and numeric owner.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    entry: &Entry,
    owner: Owner,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mtime(FIXED_MTIME);
    h.set_uid(owner.uid.into());
    h.set_gid(owner.gid.into());
    h.set_mode(entry.mode());
    match entry {
        Entry::Dir { .. } => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{path}/"), io::empty())
        }
        Entry::File { source, .. } => {
            let f = File::open(source)?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(f.metadata()?.len());
            tar.append_data(&mut h, path, f)
        }
        Entry::Data { data, .. } => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, path, data.as_slice())
        }
        Entry::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, path, target)
        }
        Entry::Whiteout => {
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
    use std::fs;

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
    }

    /// Owners and whiteouts (what a Dockerfile step's layer needs) reach
    /// the tar headers and take effect when the layer is unpacked.
    #[test]
    fn owners_and_whiteouts_are_written_and_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let mut lower = Layer::new();
        for p in ["/etc/gone", "/etc/kept", "/top"] {
            let data = p.as_bytes().to_vec();
            lower.insert(p, Entry::Data { data, mode: 0o644 }).unwrap();
        }
        let app = Owner {
            uid: 1000,
            gid: 1001,
        };
        let mut upper = Layer::new();
        upper.put("app", Entry::Dir { mode: 0o750 }, app).unwrap();
        let data = b"x".to_vec();
        upper
            .put("app/f", Entry::Data { data, mode: 0o600 }, app)
            .unwrap();
        let target = "f".to_string();
        upper.put("app/l", Entry::Symlink { target }, app).unwrap();
        upper.put("etc/gone", Entry::Whiteout, app).unwrap();
        upper.put("top", Entry::Whiteout, Owner::ROOT).unwrap();
        assert!(!upper.contains("etc"), "put adds no parents");
        assert_eq!(upper.get("/app/f").unwrap().1, app);

        let fast = upper.write(&store, Compression::GzipFast).unwrap();
        let bytes = store.read_blob(fast.descriptor.digest().as_ref()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let headers: Vec<(String, u64, u64, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap())
            })
            .collect();
        let want = [
            ("app/", 1000, 1001, 0o750),
            ("app/f", 1000, 1001, 0o600),
            ("app/l", 1000, 1001, 0o777),
            ("etc/.wh.gone", 0, 0, 0o644),
            (".wh.top", 0, 0, 0o644),
        ];
        let want: Vec<(String, u64, u64, u32)> = want
            .iter()
            .map(|(p, u, g, m)| (p.to_string(), *u, *g, *m))
            .collect();
        assert_eq!(headers, want);
        let default = upper.write(&store, Compression::Gzip).unwrap();
        assert_eq!(fast.diff_id, default.diff_id, "same tar, other gzip level");

        let root = dir.path().join("root");
        let opts = crate::unpack::UnpackOptions {
            allow_devices: false,
            preserve_ownership: Some(true),
        };
        for l in [lower.write(&store, Compression::None).unwrap(), fast] {
            let digest = l.descriptor.digest().to_string();
            let blob = File::open(store.blob_path(&digest)).unwrap();
            crate::unpack::unpack_layer(blob, &root, &digest, Some(&l.diff_id), &opts).unwrap();
        }
        assert!(!root.join("etc/gone").exists() && !root.join("top").exists());
        assert!(root.join("etc/kept").exists());
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(root.join("app/f")).unwrap();
        if running_as_root() {
            assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        }
        assert_eq!(meta.mode() & 0o7777, 0o600);
    }

    fn running_as_root() -> bool {
        fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false)
    }
}
