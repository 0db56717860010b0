//! Whether an image is present in a region's registry (and which tags it
//! has, for image policies) — the gate that keeps
//! an image that has not been replicated yet from ever being deployed there.
//! [`HttpImageCheck`] asks the registry (`HEAD /v2/<name>/manifests/<tag>`);
//! [`AnyImage`] says yes to everything (for targets that build locally).

use std::fmt;

use crate::error::{Error, Result};
use crate::target::BoxFuture;

/// Answers "is `name:tag` in the registry at `registry`?".
pub trait ImageCheck: Send + Sync + fmt::Debug {
    /// `Ok(true)` present, `Ok(false)` absent, `Err` registry unreachable.
    fn present<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Every tag of `name` in the registry at `registry` (for image
    /// policies); `Err` when the registry is unreachable.
    fn tags<'a>(&'a self, registry: &'a str, name: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let _ = (registry, name);
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Asks the registry over the OCI distribution API.
#[derive(Debug, Clone)]
pub struct HttpImageCheck {
    client: reqwest::Client,
}

impl Default for HttpImageCheck {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("http client");
        Self { client }
    }
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl ImageCheck for HttpImageCheck {
    fn present<'a>(
        &'a self,
        registry: &'a str,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let url = format!("http://{registry}/v2/{name}/manifests/{tag}");
            let resp = self
                .client
                .head(&url)
                .header("accept", ACCEPT)
                .send()
                .await
                .map_err(unreachable(registry))?;
            match resp.status().as_u16() {
                200..=299 => Ok(true),
                404 => Ok(false),
                status => Err(Error::RegistryStatus {
                    registry: registry.to_string(),
                    status,
                    what: format!("for {name}:{tag}"),
                }),
            }
        })
    }

    fn tags<'a>(&'a self, registry: &'a str, name: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let url = format!("http://{registry}/v2/{name}/tags/list?n=10000");
            let resp = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(unreachable(registry))?;
            match resp.status().as_u16() {
                404 => Ok(Vec::new()),
                200..=299 => {
                    let v: serde_json::Value =
                        resp.json()
                            .await
                            .map_err(|source| Error::RegistryTransport {
                                registry: registry.to_string(),
                                what: format!("tag list of {name}"),
                                source,
                            })?;
                    Ok(v["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect())
                }
                status => Err(Error::RegistryStatus {
                    registry: registry.to_string(),
                    status,
                    what: format!("listing tags of {name}"),
                }),
            }
        })
    }
}

/// Every image is present.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyImage;

impl ImageCheck for AnyImage {
    fn present<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async { Ok(true) })
    }
}

/// The error for a registry that did not answer.
fn unreachable(registry: &str) -> impl FnOnce(reqwest::Error) -> Error + '_ {
    move |source| Error::RegistryTransport {
        registry: registry.to_string(),
        what: "unreachable".into(),
        source,
    }
}
