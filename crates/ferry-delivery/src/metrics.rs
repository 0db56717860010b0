//! Delivery metrics: sync and build durations and outcomes,
//! commit-to-serving latency, and how many application environments wait for a sync (queue depth).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a sync outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// The engine's metrics (cheap clones of shared atomics).
#[derive(Debug, Clone)]
pub struct Metrics {
    pub sync_seconds: Histogram,
    pub syncs: Family<OutcomeLabels, Counter>,
    pub commit_to_serving_seconds: Histogram,
    pub queue_depth: Gauge,
    pub reconcile_seconds: Histogram,
    pub build_seconds: Histogram,
    pub builds: Family<OutcomeLabels, Counter>,
    /// Canary rollouts (`delivery_rollout_*`).
    pub rollouts: crate::rollout::metrics::RolloutMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            rollouts: Default::default(),
            sync_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            syncs: Family::default(),
            commit_to_serving_seconds: Histogram::new(exponential_buckets(0.1, 2.0, 12)),
            queue_depth: Gauge::default(),
            reconcile_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            build_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            builds: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under `delivery_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("delivery");
        r.register(
            "sync_duration_seconds",
            "Time to sync one application environment",
            self.sync_seconds.clone(),
        );
        r.register("syncs", "Syncs by outcome", self.syncs.clone());
        self.rollouts.register(r);
        r.register(
            "commit_to_serving_seconds",
            "From a commit being seen (webhook or poll) to it being healthy",
            self.commit_to_serving_seconds.clone(),
        );
        r.register(
            "queue_depth",
            "Application environments waiting for a sync",
            self.queue_depth.clone(),
        );
        r.register(
            "reconcile_pass_seconds",
            "Duration of a full reconcile pass",
            self.reconcile_seconds.clone(),
        );
        r.register(
            "build_duration_seconds",
            "Time to check out, build and push every image of one pipeline commit",
            self.build_seconds.clone(),
        );
        r.register("builds", "Pipeline builds by outcome", self.builds.clone());
    }
}
