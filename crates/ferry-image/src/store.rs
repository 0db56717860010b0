//! The local content store: an OCI image layout directory
//! (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) used as the pull cache
//! and as the output of builds.
//!
//! Every blob is written to `ingest/` first, verified against its digest,
//! fsynced and renamed into place, so a crash never leaves a half-written
//! blob under its digest. `index.json` names images by the
//! `org.opencontainers.image.ref.name` annotation (the full reference) and is
//! rewritten the same way under a file lock, so several processes may share
//! a store.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};

use crate::digest::{self, Hasher};
use crate::error::{Error, Result};

/// The annotation naming an image in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout on disk; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An image found in the store: its manifest and config, decoded.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The name it was found under (or its digest).
    pub name: String,
    /// Descriptor of the manifest (digest, size, media type).
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl LocalImage {
    /// The manifest digest, `sha256:...`.
    pub fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }

    /// Compressed size of config and layers together.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }
}

impl Store {
    /// Opens (creating if needed) a layout at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in ["blobs/sha256", "blobs/sha512", "ingest"] {
            let p = root.join(dir);
            fs::create_dir_all(&p).map_err(|e| Error::io("create", &p, e))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let store = Self { root };
        if !store.index_path().exists() {
            store.write_index(&empty_index())?;
        }
        Ok(store)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.root.join("blobs").join(alg).join(hex)
    }

    /// Size of the blob if present.
    pub fn blob_size(&self, digest: &str) -> Option<u64> {
        fs::metadata(self.blob_path(digest)).ok().map(|m| m.len())
    }

    /// True when the blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_size(digest).is_some()
    }

    /// Reads a whole blob; meant for manifests and configs, not layers.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest);
        fs::read(&p).map_err(|e| Error::io("read blob", p, e))
    }

    /// Stores `bytes` and returns their sha256 digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = digest::sha256(bytes);
        if !self.has_blob(&digest) {
            let tmp = self.ingest_path();
            write_synced(&tmp, bytes)?;
            self.commit(&tmp, &digest)?;
        }
        Ok(digest)
    }

    /// A fresh temporary path under `ingest/` for a blob being written.
    pub fn ingest_path(&self) -> PathBuf {
        self.root
            .join("ingest")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Moves a finished, already fsynced temp file into place as `digest`.
    /// The caller has verified the digest while writing.
    pub fn commit(&self, tmp: &Path, digest: &str) -> Result<PathBuf> {
        digest::parse(digest)?;
        let dst = self.blob_path(digest);
        fs::rename(tmp, &dst).map_err(|e| Error::io("store blob", &dst, e))?;
        sync_dir(dst.parent().expect("blob path has a parent"));
        Ok(dst)
    }

    /// Re-hashes a stored blob and checks it against its name.
    pub fn verify_blob(&self, digest: &str) -> Result<()> {
        let p = self.blob_path(digest);
        let mut f = File::open(&p).map_err(|e| Error::io("open blob", &p, e))?;
        let mut h = Hasher::for_digest(digest);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n =
                std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io("read blob", &p, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        digest::verify(&p.display().to_string(), digest, &h.finish())
    }

    // === impl Store: names ===

    /// Every named image as `(name, manifest descriptor)`, sorted by name.
    pub fn list(&self) -> Result<Vec<(String, Descriptor)>> {
        let index = self.read_index()?;
        let mut out: Vec<(String, Descriptor)> = index
            .manifests()
            .iter()
            .filter_map(|d| Some((d.annotations().as_ref()?.get(REF_NAME)?.clone(), d.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Names `desc` (a manifest already in the store) as `name`, replacing
    /// what the name pointed to before.
    pub fn tag(&self, name: &str, desc: &Descriptor) -> Result<()> {
        let mut desc = desc.clone();
        let mut ann = desc.annotations().clone().unwrap_or_default();
        ann.insert(REF_NAME.to_string(), name.to_string());
        desc.set_annotations(Some(ann));
        self.update_index(|manifests| {
            manifests.retain(|d| ref_name(d) != Some(name));
            manifests.push(desc);
        })
    }

    /// Removes the name; the blobs stay (they may be shared).
    pub fn untag(&self, name: &str) -> Result<bool> {
        let mut found = false;
        self.update_index(|manifests| {
            let before = manifests.len();
            manifests.retain(|d| ref_name(d) != Some(name));
            found = manifests.len() != before;
        })?;
        Ok(found)
    }

    /// The manifest descriptor for `name` (a stored name or a digest).
    pub fn resolve(&self, name: &str) -> Result<Descriptor> {
        if name.contains(':') && digest::parse(name).is_ok() && self.has_blob(name) {
            let size = self.blob_size(name).unwrap_or(0);
            return Ok(Descriptor::new(
                MediaType::ImageManifest,
                size,
                digest::parse(name)?,
            ));
        }
        self.list()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
            .ok_or_else(|| Error::NotInStore(name.to_string()))
    }

    /// Loads the image `name` (a stored name or a manifest digest).
    pub fn image(&self, name: &str) -> Result<LocalImage> {
        let descriptor = self.resolve(name)?;
        let digest = descriptor.digest().to_string();
        let manifest: ImageManifest = decode(&self.read_blob(&digest)?, "manifest")?;
        let config: ImageConfiguration = decode(
            &self.read_blob(manifest.config().digest().as_ref())?,
            "image config",
        )?;
        Ok(LocalImage {
            name: name.to_string(),
            descriptor,
            manifest,
            config,
        })
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let p = self.index_path();
        let bytes = fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
        decode(&bytes, "index.json")
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| Error::Json {
            what: "index.json".into(),
            source,
        })?;
        write_atomic(&self.index_path(), &bytes)
    }

    fn update_index(&self, f: impl FnOnce(&mut Vec<Descriptor>)) -> Result<()> {
        let lock_path = self.root.join("index.lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io("create", &lock_path, e))?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        let mut index = self.read_index()?;
        let mut manifests = index.manifests().clone();
        f(&mut manifests);
        index.set_manifests(manifests);
        self.write_index(&index)
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .annotations(HashMap::new())
        .build()
        .expect("static index is valid")
}

/// Decodes JSON, naming `what` on failure.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Writes `bytes` to `path` through a temp file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_names_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = store.write_blob(b"hello").unwrap();
        assert!(store.has_blob(&d));
        store.verify_blob(&d).unwrap();
        let desc = Descriptor::new(MediaType::ImageManifest, 5, digest::parse(&d).unwrap());
        store.tag("127.0.0.1:5000/a:v1", &desc).unwrap();
        store.tag("127.0.0.1:5000/a:v1", &desc).unwrap();
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.list().unwrap().len(), 1);
        assert_eq!(
            again
                .resolve("127.0.0.1:5000/a:v1")
                .unwrap()
                .digest()
                .to_string(),
            d
        );
        assert!(again.untag("127.0.0.1:5000/a:v1").unwrap());
        assert!(matches!(
            again.resolve("127.0.0.1:5000/a:v1"),
            Err(Error::NotInStore(_))
        ));
        fs::write(store.blob_path(&d), b"tampered").unwrap();
        assert!(store.verify_blob(&d).is_err());
    }
}
