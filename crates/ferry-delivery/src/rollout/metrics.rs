//! The rollouts' metrics (prometheus-client, under the engine's prefix):
//! current step, canary weight and the last analysis measurement of the
//! live canary traffic and, apart, of the mirrored requests, per app,
//! environment and Deployment.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::{AnalysisRun, Rollout};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub app: String,
    pub environment: String,
    pub deployment: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `completed` or `aborted`.
    pub outcome: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// One analysis run's last measurement.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    pub success_rate: Family<RolloutLabels, FloatGauge>,
    pub latency_p99: Family<RolloutLabels, FloatGauge>,
    pub requests: Family<RolloutLabels, Gauge>,
}

/// Every rollout metric; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RolloutMetrics {
    pub step: Family<RolloutLabels, Gauge>,
    pub weight: Family<RolloutLabels, Gauge>,
    pub live: RunMetrics,
    pub mirror: RunMetrics,
    pub outcomes: Family<OutcomeLabels, Counter>,
}

impl RunMetrics {
    fn observe(&self, l: &RolloutLabels, run: &AnalysisRun) {
        let Some(m) = &run.last else {
            return;
        };
        self.success_rate.get_or_create(l).set(m.success_rate);
        if let Some(p) = m.latency_p99 {
            self.latency_p99.get_or_create(l).set(p);
        }
        self.requests.get_or_create(l).set(m.requests as i64);
    }

    fn register(&self, r: &mut Registry, prefix: &str, what: &str) {
        r.register(
            format!("{prefix}success_rate"),
            format!("Canary success rate of the last {what} measurement"),
            self.success_rate.clone(),
        );
        r.register(
            format!("{prefix}latency_p99_seconds"),
            format!("Canary p99 latency of the last {what} measurement"),
            self.latency_p99.clone(),
        );
        r.register(
            format!("{prefix}requests"),
            format!("Canary requests in the last {what} measurement"),
            self.requests.clone(),
        );
    }
}

impl RolloutMetrics {
    /// Shows `r`'s state.
    pub fn observe(&self, r: &Rollout) {
        let l = RolloutLabels {
            app: r.app.clone(),
            environment: r.environment.clone(),
            deployment: r.deployment.clone(),
        };
        self.step.get_or_create(&l).set(r.step as i64);
        self.weight.get_or_create(&l).set(i64::from(r.weight));
        self.live.observe(&l, &r.analysis);
        self.mirror.observe(&l, &r.mirror_analysis);
    }

    /// Registers under `rollout_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("rollout");
        r.register("step", "Current canary step (0-based)", self.step.clone());
        r.register(
            "weight",
            "Percent of traffic sent to the canary",
            self.weight.clone(),
        );
        self.live.register(r, "analysis_", "analysis");
        self.mirror
            .register(r, "mirror_analysis_", "analysis of mirrored requests");
        r.register(
            "outcomes",
            "Rollouts finished, by outcome",
            self.outcomes.clone(),
        );
    }
}
