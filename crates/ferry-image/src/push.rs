//! Pushing an image from the local [`Store`] to a registry: config and
//! layers in parallel (each skipped when the registry has it, mounted from
//! another repository when possible, else uploaded — chunked and resumable
//! when large), then the manifest, byte for byte as stored so its digest
//! is unchanged.

use bytes::Bytes;
use futures_util::stream::{self, TryStreamExt};
use oci_spec::image::Descriptor;

use crate::client::{FileSource, RegistryClient, UploadOptions};
use crate::error::Result;
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::store::Store;

/// How [`push`] behaves.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub parallelism: usize,
    /// Repository (same registry) to try cross-repository mounts from.
    pub mount_from: Option<String>,
    /// Force chunked uploads of this size (default: automatic).
    pub chunk_size: Option<u64>,
    /// Retries per blob after transient failures.
    pub retries: u32,
    pub progress: Option<ProgressHandle>,
}

/// A [`Progress`] sink that can sit in a `Debug` struct.
#[derive(Clone)]
pub struct ProgressHandle(pub Progress);

impl std::fmt::Debug for ProgressHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            parallelism: 4,
            mount_from: None,
            chunk_size: None,
            retries: 5,
            progress: None,
        }
    }
}

/// Pushes the stored image `name` (a store name or manifest digest) to
/// `target`, under its tag (or by digest when it has none). Returns the
/// manifest digest.
pub async fn push(
    client: &RegistryClient,
    store: &Store,
    name: &str,
    target: &ImageRef,
    opts: &PushOptions,
) -> Result<String> {
    let image = store.image(name)?;
    let repo = target.repository.as_str();
    let blobs: Vec<Descriptor> = std::iter::once(image.manifest.config().clone())
        .chain(image.manifest.layers().iter().cloned())
        .collect();
    let upload = UploadOptions {
        chunk_size: opts.chunk_size,
        retries: opts.retries,
        mount_from: opts.mount_from.clone(),
        progress: opts.progress.as_ref().map(|p| p.0.clone()),
        ..UploadOptions::default()
    };
    stream::iter(blobs.into_iter().map(Ok))
        .try_for_each_concurrent(opts.parallelism.max(1), |d| {
            let upload = &upload;
            async move {
                let digest = d.digest().to_string();
                let actual = store.blob_size(&digest).unwrap_or(0);
                if actual != d.size() {
                    return Err(crate::Error::SizeMismatch {
                        what: format!("local blob {digest} of {name}"),
                        expected: d.size(),
                        actual,
                    });
                }
                let source = FileSource(store.blob_path(&digest));
                client
                    .upload_blob(repo, &digest, d.size(), &source, upload)
                    .await
                    .map(drop)
            }
        })
        .await?;
    let digest = image.digest();
    let bytes = Bytes::from(store.read_blob(&digest)?);
    let media_type = image
        .manifest
        .media_type()
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_else(|| image.descriptor.media_type().to_string());
    let reference = target.tag.clone().unwrap_or_else(|| digest.clone());
    client
        .put_manifest(repo, &reference, &media_type, bytes)
        .await?;
    Ok(digest)
}
