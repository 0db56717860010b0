//! Pulling an image from a registry into the local [`Store`]: manifest by
//! tag or digest, platform selection from an index, config and layers
//! streamed to disk in parallel with digest verification. Blobs the store
//! already has are not fetched again.

use std::sync::Arc;

use futures_util::stream::{self, TryStreamExt};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use crate::client::RegistryClient;
use crate::error::{Error, Result};
use crate::progress::{Progress, ProgressEvent, emit};
use crate::reference::ImageRef;
use crate::store::{LocalImage, Store, decode};

/// The platform to pick from a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, in OCI/GOARCH spelling.
    pub fn current() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('/');
        let os = it.next().filter(|s| !s.is_empty())?.to_string();
        let architecture = it.next().filter(|s| !s.is_empty())?.to_string();
        let variant = it.next().map(str::to_string);
        Some(Self {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, d: &Descriptor) -> bool {
        let Some(p) = d.platform() else { return false };
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.architecture
            && (self.variant.is_none() || p.variant() == &self.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How [`pull`] behaves.
#[derive(Clone)]
pub struct PullOptions {
    /// Platform to pick from an index (default: the current one).
    pub platform: Platform,
    /// Layers fetched at once.
    pub parallelism: usize,
    pub progress: Option<Progress>,
}

impl Default for PullOptions {
    fn default() -> Self {
        Self {
            platform: Platform::current(),
            parallelism: 4,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("parallelism", &self.parallelism)
            .finish()
    }
}

/// Pulls `image` into `store` and names it there by `image` (as written,
/// e.g. `127.0.0.1:5000/app:v1`). Returns the stored image.
pub async fn pull(
    client: &RegistryClient,
    image: &ImageRef,
    store: &Store,
    opts: &PullOptions,
) -> Result<LocalImage> {
    let repo = &image.repository;
    let mut fetched = client.get_manifest(repo, image.reference()).await?;
    if fetched.is_index() {
        let index: ImageIndex = decode(&fetched.bytes, "image index")?;
        let chosen = index
            .manifests()
            .iter()
            .find(|d| opts.platform.matches(d))
            .ok_or_else(|| Error::NoPlatform {
                reference: image.to_string(),
                wanted: opts.platform.to_string(),
                available: index
                    .manifests()
                    .iter()
                    .filter_map(|d| {
                        d.platform()
                            .as_ref()
                            .map(|p| format!("{}/{}", p.os(), p.architecture()))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        fetched = client.get_manifest(repo, chosen.digest().as_ref()).await?;
    }
    let manifest: ImageManifest = decode(&fetched.bytes, "image manifest")?;
    let blobs: Vec<Descriptor> = std::iter::once(manifest.config().clone())
        .chain(manifest.layers().iter().cloned())
        .collect();
    let progress = opts.progress.clone();
    stream::iter(blobs.into_iter().map(Ok))
        .try_for_each_concurrent(opts.parallelism.max(1), |d| {
            let progress = progress.clone();
            async move { fetch_blob(client, repo, store, &d, progress.as_ref()).await }
        })
        .await?;
    let stored = store.write_blob(&fetched.bytes)?;
    crate::digest::verify("manifest", &fetched.digest, &stored)?;
    let media_type = MediaType::from(fetched.media_type.as_str());
    let desc = Descriptor::new(
        media_type,
        fetched.bytes.len() as u64,
        crate::digest::parse(&fetched.digest)?,
    );
    let name = image_name(image);
    store.tag(&name, &desc)?;
    store.image(&name)
}

/// The name an image is stored under: the reference with its tag, or with
/// its digest when pulled by digest only.
pub fn image_name(image: &ImageRef) -> String {
    match (&image.tag, &image.digest) {
        (Some(t), _) => format!("{}/{}:{t}", image.registry, image.repository),
        (None, Some(d)) => format!("{}/{}@{d}", image.registry, image.repository),
        (None, None) => format!("{}/{}:latest", image.registry, image.repository),
    }
}

async fn fetch_blob(
    client: &RegistryClient,
    repo: &str,
    store: &Store,
    d: &Descriptor,
    progress: Option<&Progress>,
) -> Result<()> {
    let digest = d.digest().to_string();
    if store.blob_size(&digest) == Some(d.size()) {
        emit(
            progress,
            ProgressEvent::Start {
                id: digest.clone(),
                total: d.size(),
            },
        );
        emit(
            progress,
            ProgressEvent::Done {
                id: digest,
                skipped: true,
            },
        );
        return Ok(());
    }
    let tmp = store.ingest_path();
    let result = client
        .download_blob(repo, &digest, Some(d.size()), &tmp, progress)
        .await;
    match result {
        Ok(_) => store.commit(&tmp, &digest).map(drop),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Shares a progress sink between tasks (helper for callers).
pub fn shared(progress: impl Fn(ProgressEvent) + Send + Sync + 'static) -> Progress {
    Arc::new(progress)
}
