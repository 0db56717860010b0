//! The step cache: a record per cache key (a digest over the parent key,
//! the instruction and its inputs' digests) naming the layer the step
//! produced, if any. Records are written atomically (temp file, fsync,
//! rename); a record whose layer blob is gone is treated as a miss.

use std::path::{Path, PathBuf};

use ferry_image::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A layer blob a step wrote into the store (the cache record's format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDesc {
    /// Digest of the gzip blob.
    pub digest: String,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
}

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub layer: Option<LayerDesc>,
}

/// Cache records under a directory.
#[derive(Debug, Clone)]
pub struct StepCache {
    dir: PathBuf,
}

/// The key of a step: sha256 over the parent key and the step's inputs.
pub fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl StepCache {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key.replace(':', "-"))
    }

    /// The record for `key` whose layer (if any) is still in `store`.
    pub fn get(&self, key: &str, store: &Store) -> Option<StepRecord> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let rec: StepRecord = serde_json::from_slice(&bytes).ok()?;
        match &rec.layer {
            Some(l) if store.blob_size(&l.digest) != Some(l.size) => None,
            _ => Some(rec),
        }
    }

    /// Stores `rec` under `key`.
    pub fn put(&self, key: &str, rec: &StepRecord) -> ferry_image::Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|source| ferry_image::Error::Json {
            what: "step cache record".into(),
            source,
        })?;
        ferry_image::store::write_atomic(&self.path(key), &bytes)
    }
}
