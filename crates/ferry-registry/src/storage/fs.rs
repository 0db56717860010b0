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
//! leaves either nothing or a complete, verified file.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncSeekExt;

use super::{BlobReader, ByteStream, Info, Storage};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, Result};

/// How many bytes are batched before a write to disk.
const WRITE_BATCH: usize = 256 << 10;

/// Filesystem storage rooted at one directory.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
    /// Running sha256 of each upload this process has appended to, so a
    /// commit need not read the file again.
    sessions: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>>,
}

#[derive(Debug)]
struct Session {
    /// Bytes covered by `hasher`; valid only while it equals the file size.
    hashed: u64,
    hasher: Hasher,
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
            sessions: Arc::default(),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf> {
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

    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<Session>> {
        let mut map = self.sessions.lock().expect("sessions lock");
        map.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Session {
                    hashed: 0,
                    hasher: Algorithm::Sha256.hasher(),
                }))
            })
            .clone()
    }

    fn forget(&self, id: &str) {
        self.sessions.lock().expect("sessions lock").remove(id);
    }
}

// === blocking helpers ===

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("<blocking task>", std::io::Error::other(e)))?
}

/// Renames `from` to `to` (creating `to`'s directory) and fsyncs the directory.
fn install(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().expect("installed paths have a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

fn hash_file(path: &Path, alg: Algorithm) -> Result<Digest> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = alg.hasher();
    let mut buf = vec![0u8; WRITE_BATCH];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

fn info(meta: &std::fs::Metadata) -> Info {
    Info {
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

fn stat(path: &Path) -> Result<Option<Info>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(info(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn list_dir(path: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
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

    async fn blob_open(&self, digest: &Digest, offset: u64) -> Result<Option<BlobReader>> {
        let p = self.blob_path(digest);
        let mut f = match tokio::fs::File::open(&p).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&p, e)),
        };
        if offset > 0 {
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io(&p, e))?;
        }
        f.set_max_buf_size(WRITE_BATCH);
        Ok(Some(Box::pin(f)))
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
            write_synced(&tmp, &bytes)?;
            install(&tmp, &dest)
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
        let id = uuid::Uuid::new_v4().to_string();
        let p = self.upload_path(&id)?;
        blocking(move || write_synced(&p, b"")).await?;
        Ok(id)
    }

    async fn upload_stat(&self, id: &str) -> Result<Option<Info>> {
        let p = self.upload_path(id)?;
        // Wait for an append in progress, so the size reported is where the
        // next chunk must start.
        let session = self
            .sessions
            .lock()
            .expect("sessions lock")
            .get(id)
            .cloned();
        let _held = match &session {
            Some(s) => Some(s.lock().await),
            None => None,
        };
        blocking(move || stat(&p)).await
    }

    async fn upload_append(&self, id: &str, at: Option<u64>, mut body: ByteStream) -> Result<u64> {
        let path = self.upload_path(id)?;
        let session = self.session(id);
        let mut s = session.lock().await;
        let p = path.clone();
        let (file, size) = blocking(move || {
            let f = std::fs::File::options()
                .append(true)
                .open(&p)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        Error::BlobUploadUnknown("upload session not found".into())
                    }
                    _ => Error::io(&p, e),
                })?;
            let size = f.metadata().map_err(|e| Error::io(&p, e))?.len();
            Ok((f, size))
        })
        .await?;
        if let Some(at) = at
            && at != size
        {
            return Err(Error::RangeInvalid {
                message: format!("chunk starts at {at}, upload has {size} bytes"),
                size,
            });
        }
        let hashing = s.hashed == size;
        // A writer thread writes and hashes batches while this task receives
        // the next ones; the channel bounds memory to a few batches (peak
        // RSS with several layers uploading at once).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2);
        let hasher = std::mem::replace(&mut s.hasher, Algorithm::Sha256.hasher());
        let wpath = path.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let (mut file, mut hasher, mut written) = (file, hasher, 0u64);
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = file.write_all(&chunk) {
                    return (hasher, written, Err(Error::io(&wpath, e)));
                }
                if hashing {
                    hasher.update(&chunk);
                }
                written += chunk.len() as u64;
            }
            let r = file.sync_data().map_err(|e| Error::io(&wpath, e));
            (hasher, written, r)
        });
        let mut batch = BytesMut::new();
        let mut body_err = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => {
                    if batch.is_empty() {
                        // One allocation per batch instead of doubling from empty.
                        batch.reserve(WRITE_BATCH + chunk.len());
                    }
                    batch.extend_from_slice(&chunk);
                    if batch.len() >= WRITE_BATCH && tx.send(batch.split().freeze()).await.is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    body_err = Some(e);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch.freeze()).await;
        }
        drop(tx);
        let (hasher, written, result) = writer
            .await
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        s.hasher = hasher;
        s.hashed = if hashing { size + written } else { u64::MAX };
        result?;
        match body_err {
            Some(e) => Err(e),
            None => Ok(size + written),
        }
    }

    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        let path = self.upload_path(id)?;
        let session = self.session(id);
        let mut s = session.lock().await;
        let size = match blocking({
            let p = path.clone();
            move || stat(&p)
        })
        .await?
        {
            Some(i) => i.size,
            None => {
                drop(s);
                self.forget(id);
                return Err(Error::BlobUploadUnknown(id.to_string()));
            }
        };
        let cached = (digest.algorithm() == Algorithm::Sha256 && s.hashed == size)
            .then(|| std::mem::replace(&mut s.hasher, Algorithm::Sha256.hasher()).finish());
        s.hashed = u64::MAX;
        let dest = self.blob_path(digest);
        let alg = digest.algorithm();
        let (p, want) = (path.clone(), digest.clone());
        let result = blocking(move || {
            let actual = match cached {
                Some(d) => d,
                None => hash_file(&p, alg)?,
            };
            if actual != want {
                remove(&p)?;
                return Err(Error::DigestInvalid(format!(
                    "uploaded content hashes to {actual}, not {want}"
                )));
            }
            if dest.exists() {
                // Stored once: drop the duplicate, keep the original fresh.
                remove(&p)?;
                let f = std::fs::File::options()
                    .write(true)
                    .open(&dest)
                    .map_err(|e| Error::io(&dest, e))?;
                f.set_modified(SystemTime::now())
                    .map_err(|e| Error::io(&dest, e))?;
                return Ok(());
            }
            install(&p, &dest)
        })
        .await;
        drop(s);
        self.forget(id);
        result.map(|()| size)
    }

    async fn upload_delete(&self, id: &str) -> Result<bool> {
        if let Some(t) = id.strip_prefix("tmp/") {
            uuid::Uuid::parse_str(t).map_err(|_| Error::BlobUploadUnknown(id.to_string()))?;
            let p = self.root.join("tmp").join(t);
            return blocking(move || remove(&p)).await;
        }
        let p = self.upload_path(id)?;
        let session = self.session(id);
        let _s = session.lock().await;
        let r = blocking(move || remove(&p)).await;
        self.forget(id);
        r
    }

    async fn upload_list(&self) -> Result<Vec<(String, Info)>> {
        let dir = self.root.join("uploads");
        let tmp = self.root.join("tmp");
        blocking(move || {
            let mut out: Vec<(String, Info)> = list_dir(&dir)?
                .into_iter()
                .map(|(n, m)| (n, info(&m)))
                .collect();
            // Staging files of interrupted writes count as uploads too.
            out.extend(
                list_dir(&tmp)?
                    .into_iter()
                    .map(|(n, m)| (format!("tmp/{n}"), info(&m))),
            );
            Ok(out)
        })
        .await
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
        blocking(move || {
            write_synced(&tmp, &value)?;
            install(&tmp, &p)
        })
        .await
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
