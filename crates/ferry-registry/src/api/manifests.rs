//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`. A `PUT`
//! checks every referenced blob and child manifest exists in the repository,
//! stores the manifest as a blob, then links its revision, its referrer entry
//! and its tags (in that order, so nothing points at what is not there yet),
//! and publishes `ImagePushed`. Besides the tag in the path, a `PUT` may name
//! more tags as `?tag=` parameters (distribution-spec 1.2's tag parameters);
//! the response lists every tag it set in `OCI-Tag`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use ferry_core::events::Event;
use http_body_util::{BodyExt, Limited};

use super::{Query, require_repo, set};
use crate::Registry;
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::manifest::{self, MAX_MANIFEST};
use crate::names::{Reference, validate_tag};

/// Resolves a reference to a stored manifest's digest and media type.
async fn resolve(reg: &Registry, name: &str, reference: &Reference) -> Result<(Digest, String)> {
    let repos = &reg.inner.repos;
    let unknown = || Error::ManifestUnknown(format!("{name}:{reference}"));
    let digest = match reference {
        Reference::Tag(t) => repos.tag(name, t).await?.ok_or_else(unknown)?,
        Reference::Digest(d) => d.clone(),
    };
    let media_type = repos
        .manifest_type(name, &digest)
        .await?
        .ok_or_else(unknown)?;
    Ok((digest, media_type))
}

pub(crate) async fn get(
    reg: &Registry,
    name: &str,
    reference: &str,
    head: bool,
) -> Result<Response> {
    let reference = Reference::parse(reference)?;
    require_repo(reg, name).await?;
    let (digest, media_type) = resolve(reg, name, &reference).await?;
    let bytes = reg
        .inner
        .repos
        .storage
        .blob_read(&digest, MAX_MANIFEST)
        .await?
        .ok_or_else(|| Error::ManifestUnknown(format!("{name}:{reference}")))?;
    let len = bytes.len();
    let mut resp = if head {
        Response::new(Body::empty())
    } else {
        reg.inner.metrics.sent(len as u64);
        Response::new(Body::from(bytes))
    };
    let h = resp.headers_mut();
    set(h, "content-type", media_type);
    set(h, "content-length", len.to_string());
    set(h, "docker-content-digest", digest.to_string());
    set(h, "etag", format!("\"{digest}\""));
    Ok(resp)
}

/// Reads and discards what is left of a rejected request body (at most
/// 16 MiB, for at most 5 s), so a client that writes its whole body before
/// reading gets the error response instead of a reset connection.
async fn drain(mut body: Body) {
    let mut left: usize = 16 << 20;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len());
            match left.checked_sub(n) {
                Some(l) => left = l,
                None => break,
            }
        }
    })
    .await;
}

pub(crate) async fn put(
    reg: &Registry,
    name: &str,
    reference: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response> {
    let reference = Reference::parse(reference)?;
    // Every tag is checked before anything is stored, so a bad one leaves
    // the repository as it was.
    let mut tags: Vec<String> = match &reference {
        Reference::Tag(t) => vec![t.clone()],
        Reference::Digest(_) => Vec::new(),
    };
    for t in query.all("tag") {
        validate_tag(t).map_err(|_| Error::TagInvalid(format!("invalid tag parameter `{t}`")))?;
        if !tags.iter().any(|have| have == t) {
            tags.push(t.to_string());
        }
    }
    let mut body = body;
    let bytes: Bytes = match Limited::new(&mut body, MAX_MANIFEST as usize)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            drain(body).await;
            return Err(Error::TooLarge(format!(
                "manifests are limited to {MAX_MANIFEST} bytes"
            )));
        }
        Err(e) => return Err(Error::Body(e.to_string())),
    };
    reg.inner.metrics.received(bytes.len() as u64);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = manifest::parse(&bytes, content_type)?;
    let digest = match &reference {
        Reference::Digest(d) => {
            let actual = Digest::of(d.algorithm(), &bytes);
            if &actual != d {
                return Err(Error::DigestInvalid(format!(
                    "manifest hashes to {actual}, not {d}"
                )));
            }
            actual
        }
        Reference::Tag(_) => Digest::of(Algorithm::Sha256, &bytes),
    };
    let repos = &reg.inner.repos;
    // Shared with other pushes; exclusive only while in-process GC removes
    // one blob, so what is checked here cannot vanish before it is linked.
    let _guard = reg.inner.gc_guard.read().await;
    for b in &parsed.blobs {
        if !repos.has_blob(name, b).await? || repos.storage.blob_stat(b).await?.is_none() {
            return Err(Error::ManifestBlobUnknown(format!(
                "blob {b} is not in repository {name}"
            )));
        }
        repos.storage.blob_touch(b).await?;
    }
    for m in &parsed.manifests {
        if repos.manifest_type(name, m).await?.is_none() {
            return Err(Error::ManifestBlobUnknown(format!(
                "manifest {m} is not in repository {name}"
            )));
        }
        repos.storage.blob_touch(m).await?;
    }
    let new_blob = repos.storage.blob_stat(&digest).await?.is_none();
    let new_revision = repos.manifest_type(name, &digest).await?.is_none();
    repos.storage.blob_write(&digest, bytes.clone()).await?;
    if !new_blob {
        repos.storage.blob_touch(&digest).await?;
    }
    repos
        .put_revision(name, &digest, &parsed.media_type)
        .await?;
    if let Some(subject) = &parsed.subject {
        let descriptor = manifest::referrer_descriptor(&parsed, &digest, bytes.len() as u64);
        repos
            .add_referrer(name, subject, &digest, &descriptor)
            .await?;
    }
    for t in &tags {
        repos.set_tag(name, t, &digest).await?;
    }
    drop(_guard);
    if new_blob {
        reg.inner.metrics.blob_added(bytes.len() as u64);
    }
    if new_revision {
        reg.inner.metrics.manifest_added();
    }
    tracing::info!(repository = name, reference = %reference, %digest, tags = ?tags, "manifest pushed");
    let pushed = |tag| Event::ImagePushed {
        region: reg.inner.region.clone(),
        repository: name.to_string(),
        tag,
        digest: digest.to_string(),
    };
    if tags.is_empty() {
        reg.inner.events.publish(pushed(None));
    }
    for t in &tags {
        reg.inner.events.publish(pushed(Some(t.clone())));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::CREATED;
    let h = resp.headers_mut();
    set(h, "location", format!("/v2/{name}/manifests/{digest}"));
    set(h, "docker-content-digest", digest.to_string());
    set(h, "content-length", "0");
    if let Some(s) = &parsed.subject {
        set(h, "oci-subject", s.to_string());
    }
    if !tags.is_empty() {
        set(h, "oci-tag", tags.join(", "));
    }
    Ok(resp)
}

pub(crate) async fn delete(reg: &Registry, name: &str, reference: &str) -> Result<Response> {
    let reference = Reference::parse(reference)?;
    require_repo(reg, name).await?;
    let repos = &reg.inner.repos;
    let unknown = || Error::ManifestUnknown(format!("{name}:{reference}"));
    match &reference {
        Reference::Tag(t) => {
            if !repos.delete_tag(name, t).await? {
                return Err(unknown());
            }
        }
        Reference::Digest(d) => {
            if repos.manifest_type(name, d).await?.is_none() {
                return Err(unknown());
            }
            // Tags first, then the revision: a crash in between leaves an
            // untagged manifest, never a tag pointing at nothing.
            for t in repos.tags(name).await? {
                if repos.tag(name, &t).await?.as_ref() == Some(d) {
                    repos.delete_tag(name, &t).await?;
                }
            }
            if let Some(bytes) = repos.storage.blob_read(d, MAX_MANIFEST).await?
                && let Ok(parsed) = manifest::parse(&bytes, None)
                && let Some(subject) = parsed.subject
            {
                repos.remove_referrer(name, &subject, d).await?;
            }
            repos.delete_revision(name, d).await?;
            reg.inner.metrics.manifest_removed();
        }
    }
    tracing::info!(repository = name, reference = %reference, "manifest deleted");
    reg.inner.events.publish(Event::ImageDeleted {
        region: reg.inner.region.clone(),
        repository: name.to_string(),
        reference: reference.to_string(),
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::ACCEPTED;
    Ok(resp)
}
