//! Manifest, tag and catalog endpoints of [`RegistryClient`].

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{RegistryClient, pull_scope, push_scope};
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};

/// Every manifest media type we accept, OCI and Docker schema 2.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as fetched: its exact bytes (which the digest covers), media
/// type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

impl FetchedManifest {
    /// True for an OCI index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        is_index_media_type(&self.media_type)
    }
}

/// True for an OCI index or Docker manifest list media type.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl RegistryClient {
    /// Fetches the manifest `reference` (tag or digest) of `repo`. When
    /// `reference` is a digest the bytes are verified against it.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<FetchedManifest> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::GET, &path, &pull_scope(repo), |r| {
                r.header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                registry: self.registry().into(),
                what: format!("manifest {repo}:{reference}"),
            });
        }
        let resp = self.expect(resp, &[StatusCode::OK], "GET", &path).await?;
        let header_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let media_type = match header_type {
            Some(t) if t != "application/json" && !t.is_empty() => t,
            _ => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
        };
        let actual = if reference.starts_with("sha512:") {
            let mut h = Hasher::for_digest(reference);
            h.update(&bytes);
            h.finish()
        } else {
            digest::sha256(&bytes)
        };
        if reference.contains(':') {
            digest::verify(&format!("manifest {repo}@{reference}"), reference, &actual)?;
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest: actual,
        })
    }

    /// `HEAD` on a manifest: its digest, media type and size, or `None`
    /// when it does not exist.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(String, String, u64)>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::HEAD, &path, &pull_scope(repo), |r| {
                r.header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.expect(resp, &[StatusCode::OK], "HEAD", &path).await?;
        let h = resp.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let size = get("content-length")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match get("docker-content-digest") {
            Some(d) => Ok(Some((d, get("content-type").unwrap_or_default(), size))),
            // No digest header: fall back to fetching the manifest.
            None => {
                let m = self.get_manifest(repo, reference).await?;
                let size = m.bytes.len() as u64;
                Ok(Some((m.digest, m.media_type, size)))
            }
        }
    }

    /// Stores a manifest under `reference` (tag or digest); returns its
    /// digest. The registry checks every referenced blob exists.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::PUT, &path, &push_scope(repo), |r| {
                r.header(CONTENT_TYPE, media_type).body(bytes.clone())
            })
            .await?;
        self.expect(
            resp,
            &[StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED],
            "PUT",
            &path,
        )
        .await?;
        Ok(digest::sha256(&bytes))
    }

    /// Deletes a manifest (by digest) or a tag; `Ok(false)` when absent.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let scope = format!("repository:{repo}:delete");
        let resp = self.send(Method::DELETE, &path, &scope, |r| r).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.expect(
            resp,
            &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NO_CONTENT],
            "DELETE",
            &path,
        )
        .await?;
        Ok(true)
    }

    /// Every tag of `repo`, following `Link` pagination. A missing
    /// repository has no tags.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(format!("/v2/{repo}/tags/list?n=1000"));
        while let Some(path) = next.take() {
            let resp = self
                .send(Method::GET, &path, &pull_scope(repo), |r| r)
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                break;
            }
            let resp = self.expect(resp, &[StatusCode::OK], "GET", &path).await?;
            next = next_link(resp.headers());
            let list: TagList = resp.json().await.map_err(|e| self.transport(e))?;
            out.extend(list.tags.unwrap_or_default());
        }
        Ok(out)
    }

    /// Every repository of the registry (`/v2/_catalog`), paginated.
    pub async fn catalog(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some("/v2/_catalog?n=1000".to_string());
        while let Some(path) = next.take() {
            let resp = self
                .send(Method::GET, &path, "registry:catalog:*", |r| r)
                .await?;
            let resp = self.expect(resp, &[StatusCode::OK], "GET", &path).await?;
            next = next_link(resp.headers());
            let list: Catalog = resp.json().await.map_err(|e| self.transport(e))?;
            out.extend(list.repositories.unwrap_or_default());
        }
        Ok(out)
    }
}

/// The target of `Link: <...>; rel="next"`, if any.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let v = headers.get(LINK)?.to_str().ok()?;
    let start = v.find('<')? + 1;
    let end = v[start..].find('>')? + start;
    v.contains("rel=\"next\"")
        .then(|| v[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_parsed() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            LINK,
            "</v2/_catalog?last=b&n=2>; rel=\"next\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/_catalog?last=b&n=2"));
        assert_eq!(next_link(&reqwest::header::HeaderMap::new()), None);
    }
}
