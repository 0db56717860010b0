//! Copying one image (a manifest, or an index and its children) from a
//! source registry to a target registry, blob by blob: blobs the target has
//! are skipped, the others stream from source to target without touching
//! disk, several at once, each resumable from the offset the target holds,
//! paced by the rule's bandwidth cap ([`crate::throttle`]) and counted in
//! its bytes in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_image::client::{RegistrySource, UploadOptions, UploadSession};
use ferry_image::{ProgressEvent, RegistryClient};
use futures_util::stream::{self, TryStreamExt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::throttle::{Throttled, TokenBucket};

/// Blobs below this size are copied beside the large ones, not after.
const SMALL_BLOB: u64 = 1 << 20;

/// Where upload sessions are remembered between attempts (the queue).
pub trait SessionStore: Send + Sync {
    fn load(&self, blob: &str) -> Option<UploadSession>;
    fn save(&self, blob: &str, session: &UploadSession);
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Digest of the top manifest.
    pub digest: String,
    /// Blob bytes sent to the target.
    pub bytes: u64,
    /// Blobs the target already had.
    pub skipped_blobs: u64,
    /// True when the target already had the manifest under the reference.
    pub up_to_date: bool,
}

/// How a copy runs.
#[derive(Clone)]
pub struct CopyOptions {
    /// Upload sessions of interrupted blobs.
    pub sessions: Arc<dyn SessionStore>,
    /// Blobs copied at once.
    pub parallelism: usize,
    /// The rule's bandwidth cap, if any.
    pub bucket: Option<Arc<TokenBucket>>,
    /// Bytes of the blobs being copied not yet sent (the rule's gauge).
    pub in_flight: Arc<AtomicU64>,
}

impl std::fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("parallelism", &self.parallelism)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Copies `repo:reference` from `src` to `dst` (same repository name).
pub async fn copy_image(
    src: &RegistryClient,
    dst: &RegistryClient,
    repo: &str,
    reference: &str,
    opts: &CopyOptions,
) -> Result<CopyReport> {
    let top = src.get_manifest(repo, reference).await?;
    let holds = |have: Result<Option<(String, String, u64)>, ferry_image::Error>| matches!(have, Ok(Some((d, _, _))) if d == top.digest);
    let current = || CopyReport {
        digest: top.digest.clone(),
        up_to_date: true,
        ..Default::default()
    };
    let sent = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let ctx = Ctx {
        src,
        dst,
        repo,
        opts,
        sent: sent.clone(),
        skipped: skipped.clone(),
    };
    if top.is_index() {
        if holds(dst.head_manifest(repo, reference).await) {
            return Ok(current());
        }
        let index: Value = serde_json::from_slice(&top.bytes)
            .map_err(|e| protocol(src, format!("index {repo}:{reference}: {e}")))?;
        for child in index["manifests"].as_array().into_iter().flatten() {
            let digest = child["digest"]
                .as_str()
                .ok_or_else(|| protocol(src, "index entry without digest".into()))?;
            if matches!(dst.head_manifest(repo, digest).await, Ok(Some(_))) {
                continue;
            }
            let m = src.get_manifest(repo, digest).await?;
            ctx.copy_blobs(&m.bytes).await?;
            dst.put_manifest(repo, digest, &m.media_type, m.bytes.clone())
                .await?;
        }
    } else {
        // What the target holds is asked while the blobs go: over a WAN
        // the question costs round trips (connection, TLS, token) the blob
        // requests pay anyway. An image already there costs one HEAD per
        // blob (each is skipped).
        let (have, copied) = tokio::join!(
            dst.head_manifest(repo, reference),
            ctx.copy_blobs(&top.bytes)
        );
        if holds(have) {
            return Ok(current());
        }
        copied?;
    }
    dst.put_manifest(repo, reference, &top.media_type, top.bytes.clone())
        .await?;
    Ok(CopyReport {
        digest: top.digest,
        bytes: sent.load(Ordering::Relaxed),
        skipped_blobs: skipped.load(Ordering::Relaxed),
        up_to_date: false,
    })
}

struct Ctx<'a> {
    src: &'a RegistryClient,
    dst: &'a RegistryClient,
    repo: &'a str,
    opts: &'a CopyOptions,
    sent: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
}

impl Ctx<'_> {
    async fn copy_blobs(&self, manifest: &[u8]) -> Result<()> {
        let m: Value = serde_json::from_slice(manifest)
            .map_err(|e| protocol(self.src, format!("manifest of {}: {e}", self.repo)))?;
        let mut blobs: Vec<(String, u64)> = Vec::new();
        for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().into_iter().flatten()) {
            if let (Some(digest), Some(size)) = (d["digest"].as_str(), d["size"].as_u64()) {
                blobs.push((digest.to_string(), size));
            }
        }
        // Largest first: the long transfers start early and overlap the
        // rest. Small blobs (the config, tiny layers) do not wait for a
        // slot: over a WAN each costs a few round trips, which would
        // otherwise be added after the first large layer ends.
        blobs.sort_by_key(|b| std::cmp::Reverse(b.1));
        let (large, small): (Vec<_>, Vec<_>) = blobs.into_iter().partition(|b| b.1 >= SMALL_BLOB);
        futures_util::try_join!(self.copy_all(large), self.copy_all(small))?;
        Ok(())
    }

    async fn copy_all(&self, blobs: Vec<(String, u64)>) -> Result<()> {
        stream::iter(blobs.into_iter().map(Ok::<_, Error>))
            .try_for_each_concurrent(self.opts.parallelism.max(1), |(digest, size)| async move {
                self.copy_blob(&digest, size).await
            })
            .await
    }

    async fn copy_blob(&self, digest: &str, size: u64) -> Result<()> {
        let source = RegistrySource {
            client: self.src.clone(),
            repository: self.repo.to_string(),
            digest: digest.to_string(),
        };
        let sessions = self.opts.sessions.clone();
        let blob = digest.to_string();
        let sent = self.sent.clone();
        let skipped = self.skipped.clone();
        let in_flight = InFlight::new(self.opts.in_flight.clone(), size);
        let pending = in_flight.clone();
        let opts = UploadOptions {
            resume: self.opts.sessions.load(digest),
            on_session: Some(Arc::new(move |s: &UploadSession| sessions.save(&blob, s))),
            progress: Some(Arc::new(move |e: ProgressEvent| match e {
                ProgressEvent::Advance { bytes, .. } => {
                    sent.fetch_add(bytes, Ordering::Relaxed);
                    pending.sent(bytes);
                }
                ProgressEvent::Done { skipped: true, .. } => {
                    skipped.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            })),
            retries: 3,
            ..UploadOptions::default()
        };
        let result = match &self.opts.bucket {
            Some(bucket) => {
                let paced = Throttled {
                    inner: source,
                    bucket: bucket.clone(),
                };
                self.dst
                    .upload_blob(self.repo, digest, size, &paced, &opts)
                    .await
            }
            None => {
                self.dst
                    .upload_blob(self.repo, digest, size, &source, &opts)
                    .await
            }
        };
        drop(in_flight);
        result?;
        Ok(())
    }
}

/// One blob's share of a rule's bytes in flight: its size when it starts,
/// less what was sent; whatever is left is returned when the last clone
/// drops (done, failed or cancelled).
#[derive(Clone)]
struct InFlight(Arc<InFlightInner>);

struct InFlightInner {
    total: Arc<AtomicU64>,
    left: AtomicU64,
}

impl InFlight {
    fn new(total: Arc<AtomicU64>, size: u64) -> Self {
        total.fetch_add(size, Ordering::Relaxed);
        Self(Arc::new(InFlightInner {
            total,
            left: AtomicU64::new(size),
        }))
    }

    fn sent(&self, bytes: u64) {
        let took = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_sub(bytes))
            })
            .map_or(0, |before| before.min(bytes));
        self.0.total.fetch_sub(took, Ordering::Relaxed);
    }
}

impl Drop for InFlightInner {
    fn drop(&mut self) {
        self.total
            .fetch_sub(*self.left.get_mut(), Ordering::Relaxed);
    }
}

fn protocol(client: &RegistryClient, message: String) -> Error {
    Error::Image(ferry_image::Error::Protocol {
        registry: client.registry().to_string(),
        message,
    })
}
