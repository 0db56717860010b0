//! The contract between the delivery engine, which runs canaries, and the
//! gateway, which splits a Service's traffic between its stable and canary
//! pods and counts what each side answered.
//!
//! The gateway implements [`TrafficSplits`]: [`TrafficSplits::set_split`]
//! rewrites every route to the Service into two weighted destinations —
//! pods without the [`CANARY_LABEL`] (stable) and pods with it (canary) —
//! in one route-table swap; [`TrafficSplits::stats`] returns monotonic
//! counters per side, from which the engine computes each analysis
//! window's success rate and latency quantiles.

use std::fmt;
use std::sync::Arc;

use crate::mesh::ServiceKey;

/// The pod label marking a canary's pods (its value: the Deployment it
/// is the canary of).
pub const CANARY_LABEL: &str = "rollouts.ferry.dev/canary-of";

/// Upper bounds (seconds) of the latency buckets [`SideStats`] counts in.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// What one side of a split answered since the split was first set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideStats {
    pub requests: u64,
    /// Answers with a 5xx status (the gateway's own 502/503/504 included).
    pub errors: u64,
    /// Per [`LATENCY_BUCKETS`] bound (and a last one for beyond): answers
    /// that took at most that long and more than the previous bound.
    pub latency: Vec<u64>,
}

/// Both sides of a split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitStats {
    pub stable: SideStats,
    pub canary: SideStats,
}

/// Splits Services' traffic between stable and canary pods.
pub trait TrafficSplits: Send + Sync + fmt::Debug {
    /// Sends `canary_weight` percent of `service`'s traffic to its canary
    /// pods of `deployment` and the rest to the other pods; `None` removes
    /// the split. Takes effect for requests routed after it returns.
    fn set_split(&self, service: &ServiceKey, split: Option<Split>);

    /// The counters of `service`'s split, if one was ever set.
    fn stats(&self, service: &ServiceKey) -> Option<SplitStats>;
}

/// One split: the Deployment whose canary pods take `canary_weight` percent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub deployment: String,
    pub canary_weight: u32,
}

/// Shared handle type.
pub type SharedTrafficSplits = Arc<dyn TrafficSplits>;
