//! The contract between the delivery engine, which runs canaries, and the
//! gateway, which splits a Service's traffic between its stable and canary
//! pods and counts what each side answered.
//!
//! The gateway implements [`TrafficSplits`]: [`TrafficSplits::set_split`]
//! rewrites every route to the Service into two weighted destinations —
//! pods without the [`CANARY_LABEL`] (stable) and pods with it (canary) —
//! in one route-table swap; [`TrafficSplits::stats`] returns monotonic
//! counters per side, from which the engine computes each analysis
//! window's success rate and latency quantiles. A split may also carry
//! header routes (matching requests go to the canary whatever the
//! weight), mirror routes (copies sent to the canary, its answers
//! discarded and counted on a third side, `mirror`) and a delay injected
//! into the canary pods' own calls to Services.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::mesh::ServiceKey;
use crate::rollout_routes::{SetHeaderRoute, SetMirrorRoute};

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

/// Both sides of a split, and the canary's answers to mirrored requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitStats {
    pub stable: SideStats,
    pub canary: SideStats,
    pub mirror: SideStats,
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

/// One split: the Deployment whose canary pods take `canary_weight`
/// percent, and the routes that reach them otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub deployment: String,
    pub canary_weight: u32,
    /// Each with at least one match, checked before the weights.
    pub header_routes: Vec<SetHeaderRoute>,
    /// Each copying a share of its matching requests to the canary.
    pub mirror_routes: Vec<SetMirrorRoute>,
    /// A delay and the percent of the canary pods' calls it is added to.
    pub canary_delay: Option<(Duration, u32)>,
}

/// Shared handle type.
pub type SharedTrafficSplits = Arc<dyn TrafficSplits>;
