//! Blob uploads of [`RegistryClient`]: upload sessions, and the upload
//! itself (after an existence check and a cross-repository mount) — monolithic for small blobs, chunked
//! `PATCH` with `Content-Range` for large ones, resumed from the offset the
//! registry reports after a dropped connection.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::TryStreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Body, Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::blobs::{BlobSource, ByteStream, backoff};
use super::{RegistryClient, push_scope};
use crate::digest;
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, emit};

/// Blobs up to this size are uploaded in one `PUT`; larger ones in `PATCH`es
/// so a cut transfer can resume.
pub const MONOLITHIC_MAX: u64 = 16 << 20;

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

impl RegistryClient {
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
        if self.already_there(repo, digest, opts).await? {
            emit(
                progress,
                ProgressEvent::Done {
                    id: digest.to_string(),
                    skipped: true,
                },
            );
            return Ok(false);
        }
        let mut session = self.open_session(repo, opts).await?;
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
                    session = self.resumed(repo, size, session).await?;
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

    /// Whether `repo` has blob `digest` already, or got it by a mount from
    /// `opts.mount_from`: then nothing needs sending.
    async fn already_there(&self, repo: &str, digest: &str, opts: &UploadOptions) -> Result<bool> {
        if self.blob_exists(repo, digest).await?.is_some() {
            return Ok(true);
        }
        match &opts.mount_from {
            Some(from) if from != repo => self.mount_blob(repo, digest, from).await,
            _ => Ok(false),
        }
    }

    /// The session to upload in: `opts.resume` at the offset the registry
    /// reports, or a new one when there is none or it is gone.
    async fn open_session(&self, repo: &str, opts: &UploadOptions) -> Result<UploadSession> {
        match &opts.resume {
            Some(s) => match self.upload_status(repo, &s.location).await {
                Ok(offset) => Ok(UploadSession {
                    location: s.location.clone(),
                    offset,
                }),
                Err(_) => self.start_upload(repo).await,
            },
            None => self.start_upload(repo).await,
        }
    }

    /// `session` after an interruption: at the offset the registry reports,
    /// or a new session when the old one is gone or reports nonsense.
    async fn resumed(
        &self,
        repo: &str,
        size: u64,
        session: UploadSession,
    ) -> Result<UploadSession> {
        match self.upload_status(repo, &session.location).await {
            Ok(offset) if offset <= size => Ok(UploadSession { offset, ..session }),
            Ok(_) | Err(Error::NotFound { .. }) => self.start_upload(repo).await,
            Err(e) => Err(e),
        }
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
                self.patch_chunk(&scope, digest, end, source, session, opts)
                    .await?;
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

    /// Sends the bytes from `session.offset` to `end` in one `PATCH`.
    async fn patch_chunk(
        &self,
        scope: &str,
        digest: &str,
        end: u64,
        source: &dyn BlobSource,
        session: &mut UploadSession,
        opts: &UploadOptions,
    ) -> Result<()> {
        let len = end - session.offset;
        let body = self.counted(
            source.open(session.offset).await?,
            len,
            digest,
            opts.progress.clone(),
        );
        let range = format!("{}-{}", session.offset, end - 1);
        let resp = self
            .send_streaming(Method::PATCH, &session.location, scope, |r| {
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
        Ok(())
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
    }
}
