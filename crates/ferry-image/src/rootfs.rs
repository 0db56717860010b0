//! Root filesystems unpacked once per image and cached, keyed by the
//! layers' chain ID (OCI image spec: `ChainID(L0) = DiffID(L0)`,
//! `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))`), so two
//! images with the same layers share one unpacked tree.
//!
//! A tree is unpacked into a temporary directory beside the cache and
//! renamed into place when complete: a crash never leaves a half-unpacked
//! tree under a chain ID. Callers treat cached trees as read-only (the
//! runtime copies or overlays them per container).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::digest;
use crate::error::{Error, Result};
use crate::store::{LocalImage, Store};
use crate::unpack::{UnpackOptions, unpack_layer};

/// The chain ID of a list of diff IDs (`None` for no layers).
pub fn chain_id(diff_ids: &[String]) -> Option<String> {
    let mut it = diff_ids.iter();
    let mut chain = it.next()?.clone();
    for d in it {
        chain = digest::sha256(format!("{chain} {d}").as_bytes());
    }
    Some(chain)
}

/// A directory of unpacked root filesystems; see the module docs.
#[derive(Debug, Clone)]
pub struct RootfsCache {
    dir: PathBuf,
}

impl RootfsCache {
    /// A cache in `dir` (created if needed).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(Self { dir })
    }

    /// The unpacked root filesystem of `image` (its layers from `store`),
    /// unpacking it first if this cache does not have it yet.
    pub fn get_or_unpack(
        &self,
        store: &Store,
        image: &LocalImage,
        opts: &UnpackOptions,
    ) -> Result<PathBuf> {
        let diff_ids = image.config.rootfs().diff_ids();
        let key = chain_id(diff_ids).unwrap_or_else(|| digest::sha256(b""));
        let dst = self.dir.join(key.replace(':', "-"));
        if dst.is_dir() {
            return Ok(dst);
        }
        let tmp = self
            .dir
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let result = unpack_into(store, image, &tmp, opts);
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        match fs::rename(&tmp, &dst) {
            Ok(()) => Ok(dst),
            // Another process unpacked the same layers meanwhile.
            Err(_) if dst.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(dst)
            }
            Err(e) => Err(Error::io("rename", &dst, e)),
        }
    }
}

/// Unpacks every layer of `image` in order into `root`.
pub fn unpack_into(
    store: &Store,
    image: &LocalImage,
    root: &Path,
    opts: &UnpackOptions,
) -> Result<()> {
    let diff_ids = image.config.rootfs().diff_ids();
    for (i, layer) in image.manifest.layers().iter().enumerate() {
        let digest = layer.digest().to_string();
        let path = store.blob_path(&digest);
        let f = File::open(&path).map_err(|e| Error::io("open layer", &path, e))?;
        unpack_layer(f, root, &digest, diff_ids.get(i).map(String::as_str), opts)?;
    }
    Ok(())
}
