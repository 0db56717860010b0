//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`: streamed from storage,
//! in large read-ahead chunks ([`crate::storage::Storage::blob_stream`]),
//! with single `Range` requests answered `206` and ranges past the end `416`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::set;
use crate::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};

/// Parses a `Range: bytes=...` header against a blob of `size` bytes into an
/// inclusive `(start, end)`. Multiple ranges are not supported (whole blob).
pub(crate) fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
    let bad = || Error::RangeInvalid {
        message: format!("range `{value}` outside 0-{size}"),
        size,
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| bad())?;
        if n == 0 || size == 0 {
            return Err(bad());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| bad())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| bad())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || end < start {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

pub(crate) async fn get(
    reg: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let digest: Digest = digest.parse()?;
    let repos = &reg.inner.repos;
    let missing = || Error::BlobUnknown(digest.to_string());
    if !repos.has_blob(name, &digest).await? {
        return Err(missing());
    }
    let info = repos
        .storage
        .blob_stat(&digest)
        .await?
        .ok_or_else(missing)?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => parse_range(v, info.size)?,
        None => None,
    };
    let (start, end) = range.unwrap_or((0, info.size.saturating_sub(1)));
    let len = if info.size == 0 { 0 } else { end - start + 1 };
    let mut resp = if head {
        // Pushers check with HEAD before uploading; keep what they check
        // fresh so GC's grace period covers the manifest that follows.
        repos.storage.blob_touch(&digest).await?;
        Response::new(Body::empty())
    } else {
        let chunks = repos
            .storage
            .blob_stream(&digest, start, len)
            .await?
            .ok_or_else(missing)?;
        let metrics = reg.inner.metrics.clone();
        let stream = chunks.map(move |chunk| {
            if let Ok(c) = &chunk {
                metrics.sent(c.len() as u64);
            }
            chunk
        });
        Response::new(Body::from_stream(stream))
    };
    let h = resp.headers_mut();
    set(h, "content-length", len.to_string());
    set(h, "content-type", "application/octet-stream");
    set(h, "docker-content-digest", digest.to_string());
    set(h, "etag", format!("\"{digest}\""));
    set(h, "accept-ranges", "bytes");
    if range.is_some() {
        set(
            h,
            "content-range",
            format!("bytes {start}-{end}/{}", info.size),
        );
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

pub(crate) async fn delete(reg: &Registry, name: &str, digest: &str) -> Result<Response> {
    let digest: Digest = digest.parse()?;
    if !reg.inner.repos.unlink_blob(name, &digest).await? {
        return Err(Error::BlobUnknown(digest.to_string()));
    }
    // The bytes stay until GC finds nothing else uses them.
    Ok((
        StatusCode::ACCEPTED,
        [("docker-content-digest", digest.to_string())],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 99)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=5-2", 100).is_err());
        assert!(parse_range("bytes=x-2", 100).is_err());
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
    }
}
