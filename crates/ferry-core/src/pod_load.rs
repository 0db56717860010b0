//! The contract between the gateway, which sees every request it forwards
//! to a pod, and the runtime's HorizontalPodAutoscaler controller, which
//! scales workloads on that load.
//!
//! The gateway implements [`PodRequestCounts`]: a monotonic count of the
//! requests each pod answered through it (north-south and mesh), by
//! namespace and pod name. The runtime samples the counts and turns their
//! rate into the `http_requests_per_second` Pods metric
//! ([`REQUESTS_PER_SECOND`]). With no counter installed the metric is
//! missing and HPAs using it report `FailedGetPodsMetric`.

use std::fmt;
use std::sync::Arc;

/// The Pods metric ferry serves from [`PodRequestCounts`]: requests per
/// second each pod answered through the gateway.
pub const REQUESTS_PER_SECOND: &str = "http_requests_per_second";

/// Counts requests per pod (the gateway, installed into the runtime).
pub trait PodRequestCounts: Send + Sync + fmt::Debug {
    /// Requests pod `pod` of `namespace` answered so far; `None` if it has
    /// answered none since it became an endpoint. The count only grows while
    /// the pod is an endpoint; it may start again from zero after the pod
    /// stopped being one.
    fn answered(&self, namespace: &str, pod: &str) -> Option<u64>;
}

/// Shared handle type.
pub type SharedPodRequestCounts = Arc<dyn PodRequestCounts>;
