//! The filesystem [`Storage`]. Layout under the root (documented in
//! ARCHITECTURE.md):
//!
//! ```text
//! blobs/<alg>/<hex[0..2]>/<hex>     verified content, never modified
//! uploads/<uuid>                    an upload session's bytes so far
//! repositories/<name>/_manifests/.. tags and revision links (metadata)
//! tmp/<uuid>                        staging for atomic writes
//! ```
//!
//! Every write lands in `tmp/` or `uploads/`, is fsynced, verified and then
//! renamed into place (and the directory fsynced), so `kill -9` at any point
//! leaves either nothing or a complete, verified file. Upload sessions are
//! in `uploads.rs`, the write path (writeback during uploads, fsync and
//! rename helpers) in `write.rs`, blob downloads in `chunks.rs`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;

use super::uploads::Sessions;
use super::write::{sync_dir, write_installed};
use super::{ByteStream, Info, Storage};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};

/// Filesystem storage rooted at one directory.
#[derive(Debug, Clone)]
pub struct FsStorage {
    pub(super) root: PathBuf,
    /// Running sha256 of each upload this process has appended to, so a
    /// commit need not read the file again.
    pub(super) sessions: Sessions,
}

impl FsStorage {
    /// Opens (creating) storage under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for sub in ["blobs", "uploads", "repositories", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(Self {
            root,
            sessions: Sessions::default(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    pub(super) fn upload_path(&self, id: &str) -> Result<PathBuf> {
        uuid::Uuid::parse_str(id).map_err(|_| Error::BlobUploadUnknown(id.to_string()))?;
        Ok(self.root.join("uploads").join(id))
    }

    fn meta_path(&self, key: &str) -> Result<PathBuf> {
        if key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(Error::BadRequest(format!("invalid metadata key `{key}`")));
        }
        Ok(self.root.join("repositories").join(key))
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }
}

// === blocking helpers ===

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("<blocking task>", std::io::Error::other(e)))?
}

pub(super) fn info(meta: &std::fs::Metadata) -> Info {
    Info {
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

pub(super) fn stat(path: &Path) -> Result<Option<Info>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(info(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

pub(super) fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

pub(super) fn list_dir(path: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(path, e))?;
        let Ok(meta) = entry.metadata() else { continue };
        out.push((entry.file_name().to_string_lossy().into_owned(), meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn find_repositories(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    for (name, meta) in list_dir(dir)? {
        if !meta.is_dir() {
            continue;
        }
        if name == "_manifests" && !prefix.is_empty() {
            out.push(prefix.to_string());
        } else if !name.starts_with('_') {
            let child = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            find_repositories(&dir.join(&name), &child, out)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Storage for FsStorage {
    async fn blob_stat(&self, digest: &Digest) -> Result<Option<Info>> {
        let p = self.blob_path(digest);
        blocking(move || stat(&p)).await
    }

    async fn blob_stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<Option<ByteStream>> {
        let p = self.blob_path(digest);
        let file = blocking({
            let p = p.clone();
            move || match std::fs::File::open(&p) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(&p, e)),
            }
        })
        .await?;
        Ok(file.map(|f| super::chunks::stream_file(f, p, offset, len)))
    }

    async fn blob_read(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>> {
        let p = self.blob_path(digest);
        blocking(move || {
            let Some(i) = stat(&p)? else { return Ok(None) };
            if i.size > limit {
                return Err(Error::TooLarge(format!(
                    "{} bytes exceeds the limit of {limit}",
                    i.size
                )));
            }
            match std::fs::read(&p) {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(&p, e)),
            }
        })
        .await
    }

    async fn blob_write(&self, digest: &Digest, bytes: Bytes) -> Result<()> {
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(Error::DigestInvalid(format!(
                "content hashes to {actual}, not {digest}"
            )));
        }
        let (tmp, dest) = (self.tmp_path(), self.blob_path(digest));
        blocking(move || {
            if dest.exists() {
                return Ok(());
            }
            write_installed(&tmp, &dest, &bytes)
        })
        .await
    }

    async fn blob_touch(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        blocking(
            move || match std::fs::File::options().write(true).open(&p) {
                Ok(f) => f
                    .set_modified(SystemTime::now())
                    .map_err(|e| Error::io(&p, e)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io(&p, e)),
            },
        )
        .await
    }

    async fn blob_delete(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        blocking(move || remove(&p)).await
    }

    async fn blob_list(&self) -> Result<Vec<(Digest, Info)>> {
        let root = self.root.join("blobs");
        blocking(move || {
            let mut out = Vec::new();
            for alg in [Algorithm::Sha256, Algorithm::Sha512] {
                let adir = root.join(alg.as_str());
                for (prefix, m) in list_dir(&adir)? {
                    if !m.is_dir() {
                        continue;
                    }
                    for (hex, meta) in list_dir(&adir.join(&prefix))? {
                        if let Some(d) = Digest::from_parts(alg.as_str(), &hex) {
                            out.push((d, info(&meta)));
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn upload_create(&self) -> Result<String> {
        self.create_upload().await
    }

    async fn upload_stat(&self, id: &str) -> Result<Option<Info>> {
        self.stat_upload(id).await
    }

    async fn upload_append(&self, id: &str, at: Option<u64>, body: ByteStream) -> Result<u64> {
        self.append(id, at, body).await
    }

    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        self.commit(id, digest).await
    }

    async fn upload_delete(&self, id: &str) -> Result<bool> {
        self.delete_upload(id).await
    }

    async fn upload_list(&self) -> Result<Vec<(String, Info)>> {
        self.list_uploads().await
    }

    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let p = self.meta_path(key)?;
        blocking(move || match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io(&p, e)),
        })
        .await
    }

    async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()> {
        let (p, tmp, value) = (self.meta_path(key)?, self.tmp_path(), value.to_vec());
        blocking(move || write_installed(&tmp, &p, &value)).await
    }

    async fn meta_delete(&self, key: &str) -> Result<bool> {
        let p = self.meta_path(key)?;
        blocking(move || {
            let removed = remove(&p)?;
            if removed && let Some(dir) = p.parent() {
                sync_dir(dir)?;
            }
            Ok(removed)
        })
        .await
    }

    async fn meta_list(&self, prefix: &str) -> Result<Vec<String>> {
        let p = self.meta_path(prefix)?;
        blocking(move || Ok(list_dir(&p)?.into_iter().map(|(n, _)| n).collect())).await
    }

    async fn repositories(&self) -> Result<Vec<String>> {
        let root = self.root.join("repositories");
        blocking(move || {
            let mut out = Vec::new();
            find_repositories(&root, "", &mut out)?;
            out.sort();
            Ok(out)
        })
        .await
    }
}
