//! Blob endpoints of [`RegistryClient`]: existence checks, streamed and
//! verified downloads (resumed with `Range` after a cut), cross-repository
//! mounts, and uploads — monolithic for small blobs, chunked `PATCH` with
//! `Content-Range` for large ones, resumed from the offset the registry
//! reports after a dropped connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Body, Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{RegistryClient, pull_scope, push_scope};
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, emit};

/// Blobs up to this size are uploaded in one `PUT`; larger ones in `PATCH`es
/// so a cut transfer can resume.
pub const MONOLITHIC_MAX: u64 = 16 << 20;

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

/// An upload in progress: where to send the next bytes and how many the
/// registry already has. Persist it to resume after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    pub location: String,
    pub offset: u64,
}

/// Called with every change of an upload session.
pub type SessionHook = Arc<dyn Fn(&UploadSession) + Send + Sync>;

/// How [`RegistryClient::upload_blob`] behaves.
#[derive(Clone, Default)]
pub struct UploadOptions {
    /// Split the upload into `PATCH`es of this size (default: monolithic up
    /// to [`MONOLITHIC_MAX`], one `PATCH` of the rest above).
    pub chunk_size: Option<u64>,
    /// A session to continue (from an earlier, interrupted attempt).
    pub resume: Option<UploadSession>,
    /// Told about every session change, so the caller can persist it.
    pub on_session: Option<SessionHook>,
    /// Transfer progress.
    pub progress: Option<Progress>,
    /// How often to retry after a transient failure (resuming each time).
    pub retries: u32,
    /// Try a cross-repository mount from this repository first.
    pub mount_from: Option<String>,
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("chunk_size", &self.chunk_size)
            .field("resume", &self.resume)
            .field("retries", &self.retries)
            .field("mount_from", &self.mount_from)
            .finish_non_exhaustive()
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

    /// Opens an upload session in `repo`.
    pub async fn start_upload(&self, repo: &str) -> Result<UploadSession> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let resp = self
            .send(Method::POST, &path, &push_scope(repo), |r| {
                r.header(CONTENT_LENGTH, 0)
            })
            .await?;
        let resp = self
            .expect(resp, &[StatusCode::ACCEPTED], "POST", &path)
            .await?;
        Ok(UploadSession {
            location: self.location(&resp, &path)?,
            offset: 0,
        })
    }

    /// How many bytes the registry holds for the upload at `location`.
    pub async fn upload_status(&self, repo: &str, location: &str) -> Result<u64> {
        let resp = self
            .send(Method::GET, location, &push_scope(repo), |r| r)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                registry: self.registry().into(),
                what: format!("upload {location}"),
            });
        }
        let resp = self
            .expect(
                resp,
                &[StatusCode::NO_CONTENT, StatusCode::OK],
                "GET",
                location,
            )
            .await?;
        let range = resp
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0-0");
        Ok(parse_range_end(range))
    }

    fn location(&self, resp: &reqwest::Response, path: &str) -> Result<String> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol {
                registry: self.registry().into(),
                message: format!("no Location header in answer to {path}"),
            })?;
        Ok(self.url(loc))
    }

    /// Uploads blob `digest` of `size` bytes from `source` unless `repo`
    /// already has it (or it can be mounted). Returns `true` when bytes
    /// were sent. Transient failures are retried `opts.retries` times, each
    /// time continuing from the offset the registry reports.
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        source: &dyn BlobSource,
        opts: &UploadOptions,
    ) -> Result<bool> {
        digest::parse(digest)?;
        let progress = opts.progress.as_ref();
        emit(
            progress,
            ProgressEvent::Start {
                id: digest.to_string(),
                total: size,
            },
        );
        if self.blob_exists(repo, digest).await?.is_some() {
            emit(
                progress,
                ProgressEvent::Done {
                    id: digest.to_string(),
                    skipped: true,
                },
            );
            return Ok(false);
        }
        if let Some(from) = &opts.mount_from
            && from != repo
            && self.mount_blob(repo, digest, from).await?
        {
            emit(
                progress,
                ProgressEvent::Done {
                    id: digest.to_string(),
                    skipped: true,
                },
            );
            return Ok(false);
        }
        let mut session = match &opts.resume {
            Some(s) => match self.upload_status(repo, &s.location).await {
                Ok(offset) => UploadSession {
                    location: s.location.clone(),
                    offset,
                },
                Err(_) => self.start_upload(repo).await?,
            },
            None => self.start_upload(repo).await?,
        };
        self.session_changed(opts, &session);
        let mut attempt = 0;
        loop {
            match self
                .send_rest(repo, digest, size, source, &mut session, opts)
                .await
            {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt < opts.retries => {
                    attempt += 1;
                    tracing::info!(%digest, offset = session.offset, attempt, error = %e, "blob upload interrupted; resuming");
                    tokio::time::sleep(backoff(attempt)).await;
                    session = match self.upload_status(repo, &session.location).await {
                        Ok(offset) if offset <= size => UploadSession { offset, ..session },
                        Ok(_) | Err(Error::NotFound { .. }) => self.start_upload(repo).await?,
                        Err(e) => return Err(e),
                    };
                    self.session_changed(opts, &session);
                }
                Err(e) => return Err(e),
            }
        }
        emit(
            progress,
            ProgressEvent::Done {
                id: digest.to_string(),
                skipped: false,
            },
        );
        Ok(true)
    }

    fn session_changed(&self, opts: &UploadOptions, session: &UploadSession) {
        if let Some(f) = &opts.on_session {
            f(session);
        }
    }

    async fn send_rest(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        source: &dyn BlobSource,
        session: &mut UploadSession,
        opts: &UploadOptions,
    ) -> Result<()> {
        let scope = push_scope(repo);
        let monolithic = session.offset == 0 && opts.chunk_size.is_none() && size <= MONOLITHIC_MAX;
        if !monolithic {
            while session.offset < size {
                let end = opts
                    .chunk_size
                    .map_or(size, |c| (session.offset + c).min(size));
                let len = end - session.offset;
                let body = self.counted(
                    source.open(session.offset).await?,
                    len,
                    digest,
                    opts.progress.clone(),
                );
                let range = format!("{}-{}", session.offset, end - 1);
                let resp = self
                    .send_streaming(Method::PATCH, &session.location, &scope, |r| {
                        r.header("Content-Range", range)
                            .header(CONTENT_LENGTH, len)
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .body(body)
                    })
                    .await?;
                let resp = self
                    .expect(
                        resp,
                        &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT],
                        "PATCH",
                        &session.location,
                    )
                    .await?;
                session.location = self
                    .location(&resp, "PATCH")
                    .unwrap_or_else(|_| session.location.clone());
                session.offset = end;
                self.session_changed(opts, session);
            }
        }
        let url = with_digest(&session.location, digest);
        let (len, body) = if monolithic {
            (
                size,
                self.counted(source.open(0).await?, size, digest, opts.progress.clone()),
            )
        } else {
            (0, Body::from(Bytes::new()))
        };
        let resp = self
            .send_streaming(Method::PUT, &url, &scope, |r| {
                r.header(CONTENT_LENGTH, len)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body)
            })
            .await?;
        self.expect(
            resp,
            &[StatusCode::CREATED, StatusCode::NO_CONTENT, StatusCode::OK],
            "PUT",
            &url,
        )
        .await
        .map(drop)
    }

    /// `len` bytes of `stream` as a request body, reporting progress.
    fn counted(
        &self,
        stream: ByteStream,
        len: u64,
        digest: &str,
        progress: Option<Progress>,
    ) -> Body {
        let id = digest.to_string();
        let mut left = len;
        let limited = stream
            .try_filter_map(move |mut chunk| {
                let keep = left.min(chunk.len() as u64);
                left -= keep;
                chunk.truncate(keep as usize);
                async move { Ok((!chunk.is_empty()).then_some(chunk)) }
            })
            .inspect_ok(move |chunk| {
                emit(
                    progress.as_ref(),
                    ProgressEvent::Advance {
                        id: id.clone(),
                        bytes: chunk.len() as u64,
                    },
                )
            });
        Body::wrap_stream(limited)
    }
}

/// `location` with `digest=` added to its query.
fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// The offset after an upload-status `Range: 0-<end>` (inclusive end).
/// Distribution answers `0-0` for an empty upload, so that reads as 0; an
/// end that does not parse, or that no byte can follow, also starts over.
pub(crate) fn parse_range_end(range: &str) -> u64 {
    let range = range.trim().trim_start_matches("bytes=");
    match range
        .split_once('-')
        .and_then(|(_, end)| end.parse::<u64>().ok())
    {
        Some(0) | None => 0,
        Some(end) => end.checked_add(1).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_locations() {
        assert_eq!(parse_range_end("0-0"), 0);
        assert_eq!(parse_range_end("0-1023"), 1024);
        assert_eq!(parse_range_end("bytes=0-9"), 10);
        assert_eq!(parse_range_end("junk"), 0);
        assert_eq!(
            with_digest("http://h/v2/a/blobs/uploads/u?_state=x", "sha256:1"),
            "http://h/v2/a/blobs/uploads/u?_state=x&digest=sha256:1"
        );
        assert_eq!(with_digest("/u", "d"), "/u?digest=d");
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_millis(3200));
    }
}
