//! Blob reads of [`RegistryClient`]: existence checks, streamed and
//! verified downloads (resumed with `Range` after a cut), cross-repository
//! mounts, and the sources a blob upload reads from (see [`super::upload`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, LOCATION, RANGE};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{RegistryClient, pull_scope, push_scope};
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, emit};

/// A byte stream of a blob.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Where blob bytes come from: a local file, another registry...
pub trait BlobSource: Send + Sync {
    /// The blob's bytes from `offset` to the end.
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>>;
}

/// A blob in a local file.
#[derive(Debug, Clone)]
pub struct FileSource(pub PathBuf);

impl BlobSource for FileSource {
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        Box::pin(async move {
            let mut f = tokio::fs::File::open(&self.0)
                .await
                .map_err(|e| Error::io("open", &self.0, e))?;
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| Error::io("seek", &self.0, e))?;
            Ok(tokio_util::io::ReaderStream::with_capacity(f, 256 << 10).boxed())
        })
    }
}

/// A blob in a registry (for copies between registries).
#[derive(Debug, Clone)]
pub struct RegistrySource {
    pub client: RegistryClient,
    pub repository: String,
    pub digest: String,
}

impl BlobSource for RegistrySource {
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<ByteStream>> {
        Box::pin(async move {
            self.client
                .blob_stream(&self.repository, &self.digest, offset)
                .await
        })
    }
}

/// Delay before retry number `attempt` (1-based): 200 ms doubling, at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(5).saturating_sub(1)))
        .min(Duration::from_secs(5))
}

impl RegistryClient {
    /// The size of blob `digest` in `repo`, or `None` when absent.
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> Result<Option<u64>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self
            .send(Method::HEAD, &path, &pull_scope(repo), |r| r)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.expect(resp, &[StatusCode::OK], "HEAD", &path).await?;
        Ok(Some(
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// The blob's bytes from `offset` on, streamed.
    pub async fn blob_stream(&self, repo: &str, digest: &str, offset: u64) -> Result<ByteStream> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self
            .send(Method::GET, &path, &pull_scope(repo), |r| {
                if offset > 0 {
                    r.header(RANGE, format!("bytes={offset}-"))
                } else {
                    r
                }
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                registry: self.registry().into(),
                what: format!("blob {repo}@{digest}"),
            });
        }
        let resp = self
            .expect(
                resp,
                &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
                "GET",
                &path,
            )
            .await?;
        let mut skip = if offset > 0 && resp.status() == StatusCode::OK {
            offset
        } else {
            0
        };
        let stream = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionAborted, e));
        if skip == 0 {
            return Ok(stream.boxed());
        }
        // The registry ignored `Range`: drop the prefix ourselves.
        Ok(stream
            .try_filter_map(move |mut chunk| {
                let drop = skip.min(chunk.len() as u64);
                skip -= drop;
                let rest = chunk.split_off(drop as usize);
                async move { Ok((!rest.is_empty()).then_some(rest)) }
            })
            .boxed())
    }

    /// Downloads blob `digest` into the file `dest`, verifying digest (and
    /// size when given). A cut connection is resumed with `Range`.
    pub async fn download_blob(
        &self,
        repo: &str,
        digest: &str,
        size: Option<u64>,
        dest: &Path,
        progress: Option<&Progress>,
    ) -> Result<u64> {
        digest::parse(digest)?;
        emit(
            progress,
            ProgressEvent::Start {
                id: digest.to_string(),
                total: size.unwrap_or(0),
            },
        );
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::io("create", dest, e))?;
        let mut hasher = Hasher::for_digest(digest);
        let mut written = 0u64;
        let mut attempt = 0;
        loop {
            match self
                .download_into(repo, digest, &mut file, &mut hasher, &mut written, progress)
                .await
            {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(%digest, written, error = %e, "blob download cut; resuming");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        file.flush()
            .await
            .map_err(|e| Error::io("write", dest, e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::io("fsync", dest, e))?;
        let actual = hasher.finish();
        digest::verify(&format!("blob {repo}@{digest}"), digest, &actual)?;
        if let Some(expected) = size
            && expected != written
        {
            return Err(Error::SizeMismatch {
                what: format!("blob {digest}"),
                expected,
                actual: written,
            });
        }
        emit(
            progress,
            ProgressEvent::Done {
                id: digest.to_string(),
                skipped: false,
            },
        );
        Ok(written)
    }

    async fn download_into(
        &self,
        repo: &str,
        digest: &str,
        file: &mut tokio::fs::File,
        hasher: &mut Hasher,
        written: &mut u64,
        progress: Option<&Progress>,
    ) -> Result<()> {
        let mut stream = self.blob_stream(repo, digest, *written).await?;
        let mut buf = tokio::io::BufWriter::with_capacity(1 << 20, &mut *file);
        let result = loop {
            match stream.next().await {
                None => break Ok(()),
                Some(Err(e)) => break Err(Error::io("download", format!("{repo}@{digest}"), e)),
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    if let Err(e) = buf.write_all(&chunk).await {
                        break Err(Error::io("write", "blob file", e));
                    }
                    *written += chunk.len() as u64;
                    emit(
                        progress,
                        ProgressEvent::Advance {
                            id: digest.to_string(),
                            bytes: chunk.len() as u64,
                        },
                    );
                }
            }
        };
        // Keep what arrived before a cut: the retry continues after it.
        buf.flush()
            .await
            .map_err(|e| Error::io("write", "blob file", e))?;
        result
    }

    /// Asks the registry to mount `digest` from repository `from` into
    /// `repo`; `Ok(true)` when it did (201), `Ok(false)` when it opened an
    /// upload instead (which is cancelled).
    pub async fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        let scope = format!("{} {}", push_scope(repo), pull_scope(from));
        let resp = self
            .send(Method::POST, &path, &scope, |r| r.header(CONTENT_LENGTH, 0))
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        if resp.status() == StatusCode::ACCEPTED
            && let Some(loc) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok())
        {
            let _ = self
                .send(Method::DELETE, loc, &push_scope(repo), |r| r)
                .await;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_millis(3200));
    }
}
