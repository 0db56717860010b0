//! Upload sessions of the filesystem storage: `uploads/<uuid>` files that
//! grow with each `PATCH` and become blobs on commit. Each session this
//! process appended to keeps a running sha256, so a commit verifies the
//! digest without reading the file back; a session lock orders appends,
//! status queries and the commit of one upload.

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::fs::{FsStorage, blocking, info, list_dir, remove, stat};
use super::write::{append_to, hash_file, install};
use super::{ByteStream, Info};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, Result};

/// The sessions this process has touched, by id.
pub(super) type Sessions = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>>;

#[derive(Debug)]
pub(super) struct Session {
    /// Bytes covered by `hasher`; valid only while it equals the file size.
    hashed: u64,
    hasher: Hasher,
}

impl FsStorage {
    fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<Session>> {
        let mut map = self.sessions.lock_or_recover();
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
        self.sessions.lock_or_recover().remove(id);
    }

    pub(super) async fn create_upload(&self) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let p = self.upload_path(&id)?;
        // Not fsynced: a session lost to a power cut is only an unknown
        // upload the client starts again; its bytes are synced when
        // appended, and the blob when installed.
        blocking(move || {
            std::fs::File::create(&p)
                .map(drop)
                .map_err(|e| Error::io(&p, e))
        })
        .await?;
        Ok(id)
    }

    pub(super) async fn stat_upload(&self, id: &str) -> Result<Option<Info>> {
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

    pub(super) async fn append(&self, id: &str, at: Option<u64>, body: ByteStream) -> Result<u64> {
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
        let hasher = std::mem::replace(&mut s.hasher, Algorithm::Sha256.hasher());
        // Until the writer hands the hasher back, the session has none.
        s.hashed = u64::MAX;
        let appended = append_to(file, path.clone(), size, hasher, hashing, body).await?;
        s.hasher = appended.hasher;
        s.hashed = if appended.hashed {
            size + appended.written
        } else {
            u64::MAX
        };
        match appended.result {
            Ok(()) => Ok(size + appended.written),
            Err(e) if e.is_storage_full() => {
                // A session holding the disk full would fail every other
                // write too: give its space back; the client starts again.
                drop(s);
                self.forget(id);
                let _ = blocking(move || remove(&path)).await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn commit(&self, id: &str, digest: &Digest) -> Result<u64> {
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
        if let Err(e) = &result
            && e.is_storage_full()
        {
            let _ = blocking(move || remove(&path)).await;
        }
        result.map(|()| size)
    }

    pub(super) async fn delete_upload(&self, id: &str) -> Result<bool> {
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

    pub(super) async fn list_uploads(&self) -> Result<Vec<(String, Info)>> {
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
}
