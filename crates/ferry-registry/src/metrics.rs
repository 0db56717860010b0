//! The registry's Prometheus metrics, registered under the `registry`
//! prefix of the region's registry: requests by route, method and status,
//! bytes in and out, storage gauges (bytes, blobs, manifests) kept up to
//! date on writes and rescanned after GC, and the outcome of GC runs.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::error::Result;
use crate::repo::Repos;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GcLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: String,
    status: u16,
}

/// Handles on every registry metric; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Handles>,
}

#[derive(Debug)]
struct Handles {
    requests: Family<RequestLabels, Counter>,
    received: Counter,
    sent: Counter,
    storage_bytes: Gauge,
    blobs: Gauge,
    manifests: Gauge,
    gc_runs: Family<GcLabels, Counter>,
    gc_last_run: Gauge<f64, AtomicU64>,
    gc_last_duration: Gauge<f64, AtomicU64>,
    gc_last_blobs_removed: Gauge,
    gc_last_bytes_freed: Gauge,
}

impl Metrics {
    /// Registers the metrics into `registry` (already prefixed).
    pub fn register(registry: &mut Registry) -> Self {
        let h = Handles {
            requests: Family::default(),
            received: Counter::default(),
            sent: Counter::default(),
            storage_bytes: Gauge::default(),
            blobs: Gauge::default(),
            manifests: Gauge::default(),
            gc_runs: Family::default(),
            gc_last_run: Gauge::default(),
            gc_last_duration: Gauge::default(),
            gc_last_blobs_removed: Gauge::default(),
            gc_last_bytes_freed: Gauge::default(),
        };
        registry.register(
            "requests",
            "Registry HTTP requests by route, method and status",
            h.requests.clone(),
        );
        registry.register(
            "received_bytes",
            "Bytes received in uploads and manifests",
            h.received.clone(),
        );
        registry.register(
            "sent_bytes",
            "Bytes sent in blob and manifest responses",
            h.sent.clone(),
        );
        registry.register(
            "storage_bytes",
            "Bytes stored in blobs",
            h.storage_bytes.clone(),
        );
        registry.register(
            "blobs",
            "Blobs stored (layers, configs and manifests)",
            h.blobs.clone(),
        );
        registry.register(
            "manifests",
            "Manifests stored, counted per repository",
            h.manifests.clone(),
        );
        registry.register(
            "gc_runs",
            "Garbage collection runs by result (ok, error)",
            h.gc_runs.clone(),
        );
        registry.register(
            "gc_last_run_timestamp_seconds",
            "When the last garbage collection run ended (Unix seconds)",
            h.gc_last_run.clone(),
        );
        registry.register(
            "gc_last_duration_seconds",
            "How long the last garbage collection run took",
            h.gc_last_duration.clone(),
        );
        registry.register(
            "gc_last_removed_blobs",
            "Blobs the last successful garbage collection run removed",
            h.gc_last_blobs_removed.clone(),
        );
        registry.register(
            "gc_last_freed_bytes",
            "Bytes the last successful garbage collection run freed",
            h.gc_last_bytes_freed.clone(),
        );
        Self { inner: Arc::new(h) }
    }

    pub(crate) fn request(&self, route: &'static str, method: &str, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route,
                method: method.to_string(),
                status,
            })
            .inc();
    }

    pub(crate) fn received(&self, n: u64) {
        self.inner.received.inc_by(n);
    }

    pub(crate) fn sent(&self, n: u64) {
        self.inner.sent.inc_by(n);
    }

    pub(crate) fn blob_added(&self, size: u64) {
        self.inner.blobs.inc();
        self.inner.storage_bytes.inc_by(size as i64);
    }

    pub(crate) fn manifest_added(&self) {
        self.inner.manifests.inc();
    }

    pub(crate) fn manifest_removed(&self) {
        self.inner.manifests.dec();
    }

    /// Records one GC run (not dry runs): its result, end time and duration,
    /// and what a successful one removed.
    pub(crate) fn gc_run(&self, took: std::time::Duration, report: Option<&crate::GcReport>) {
        let h = &self.inner;
        let result = if report.is_some() { "ok" } else { "error" };
        h.gc_runs.get_or_create(&GcLabels { result }).inc();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        h.gc_last_run.set(now.as_secs_f64());
        h.gc_last_duration.set(took.as_secs_f64());
        if let Some(r) = report {
            h.gc_last_blobs_removed.set(r.blobs_removed.len() as i64);
            h.gc_last_bytes_freed.set(r.bytes_freed as i64);
        }
    }

    /// Recounts the storage gauges from what is stored.
    pub(crate) async fn rescan(&self, repos: &Repos) -> Result<()> {
        let blobs = repos.storage.blob_list().await?;
        self.inner.blobs.set(blobs.len() as i64);
        self.inner
            .storage_bytes
            .set(blobs.iter().map(|(_, i)| i.size as i64).sum());
        let mut manifests = 0;
        for repo in repos.storage.repositories().await? {
            manifests += repos.revisions(&repo).await?.len() as i64;
        }
        self.inner.manifests.set(manifests);
        Ok(())
    }
}
