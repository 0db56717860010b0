//! Blob uploads: `POST` (session, single-request push with `?digest=`, or
//! cross-repository `?mount=&from=`), `PATCH` chunks with `Content-Range`,
//! `GET` status for resuming, `PUT ?digest=` to finish, `DELETE` to cancel.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{Query, body_stream, set};
use crate::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::names::validate_name;

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// `Range: 0-<last byte>` as the spec (and Docker) write it; `0-0` when empty.
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    set(h, "location", upload_location(name, id));
    set(h, "range", range_header(size));
    set(h, "docker-upload-uuid", id);
    set(h, "content-length", "0");
    resp
}

fn created(name: &str, digest: &Digest) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::CREATED;
    let h = resp.headers_mut();
    set(h, "location", format!("/v2/{name}/blobs/{digest}"));
    set(h, "docker-content-digest", digest.to_string());
    set(h, "content-length", "0");
    resp
}

/// The start offset a `Content-Range` header asks for (`<start>-<end>`,
/// optionally prefixed by `bytes `); a malformed header is a 416.
pub(crate) fn content_range_start(headers: &HeaderMap, size_hint: u64) -> Result<Option<u64>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || Error::RangeInvalid {
        message: "malformed Content-Range (want <start>-<end>)".into(),
        size: size_hint,
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s.strip_prefix("bytes ").unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end: u64 = b.trim().parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && (end - start).checked_add(1) != Some(len)
    {
        return Err(bad());
    }
    Ok(Some(start))
}

async fn commit(reg: &Registry, name: &str, id: &str, digest: &Digest) -> Result<Response> {
    let storage = &reg.inner.repos.storage;
    let existed = storage.blob_stat(digest).await?.is_some();
    let size = storage.upload_commit(id, digest).await?;
    reg.inner.repos.link_blob(name, digest).await?;
    if !existed {
        reg.inner.metrics.blob_added(size);
    }
    Ok(created(name, digest))
}

pub(crate) async fn start(
    reg: &Registry,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let repos = &reg.inner.repos;
    if let Some(mount) = q.get("mount") {
        let digest: Digest = mount.parse()?;
        let from = q.get("from");
        if let Some(from) = from {
            validate_name(from)?;
        }
        // Mount only from a named repository the caller may read (checked
        // by the dispatcher); otherwise fall back to a normal upload.
        if let Some(from) = from
            && repos.has_blob(from, &digest).await?
            && repos.storage.blob_stat(&digest).await?.is_some()
        {
            repos.storage.blob_touch(&digest).await?;
            repos.link_blob(name, &digest).await?;
            return Ok(created(name, &digest));
        }
    }
    let id = repos.storage.upload_create().await?;
    if let Some(d) = q.get("digest") {
        let digest: Digest = match d.parse() {
            Ok(d) => d,
            Err(e) => {
                repos.storage.upload_delete(&id).await?;
                return Err(e);
            }
        };
        let appended = repos
            .storage
            .upload_append(&id, Some(0), body_stream(reg, body))
            .await;
        if let Err(e) = appended {
            repos.storage.upload_delete(&id).await?;
            return Err(e);
        }
        return commit(reg, name, &id, &digest).await;
    }
    let _ = headers;
    Ok(session_response(StatusCode::ACCEPTED, name, &id, 0))
}

pub(crate) async fn status(reg: &Registry, name: &str, id: &str) -> Result<Response> {
    let info = reg
        .inner
        .repos
        .storage
        .upload_stat(id)
        .await?
        .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
    Ok(session_response(
        StatusCode::NO_CONTENT,
        name,
        id,
        info.size,
    ))
}

pub(crate) async fn patch(
    reg: &Registry,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let storage = &reg.inner.repos.storage;
    let current = storage
        .upload_stat(id)
        .await?
        .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
    let at = content_range_start(headers, current.size)?;
    let size = storage
        .upload_append(id, at, body_stream(reg, body))
        .await?;
    Ok(session_response(StatusCode::ACCEPTED, name, id, size))
}

pub(crate) async fn finish(
    reg: &Registry,
    name: &str,
    id: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let storage = &reg.inner.repos.storage;
    let current = storage
        .upload_stat(id)
        .await?
        .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
    let digest: Digest = q
        .get("digest")
        .ok_or_else(|| Error::DigestInvalid("PUT needs ?digest=<digest>".into()))?
        .parse()?;
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|n| n > 0);
    if has_body {
        let at = content_range_start(headers, current.size)?;
        storage
            .upload_append(id, at, body_stream(reg, body))
            .await?;
    }
    commit(reg, name, id, &digest).await
}

pub(crate) async fn cancel(reg: &Registry, _name: &str, id: &str) -> Result<Response> {
    if !reg.inner.repos.storage.upload_delete(id).await? {
        return Err(Error::BlobUploadUnknown(id.to_string()));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}
