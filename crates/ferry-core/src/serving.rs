//! The contract between the runtime's Knative Serving controller and the
//! gateway's activator: routes for Knative Services, which revisions may be
//! scaled to zero, and the load the gateway pushes back to the autoscaler.
//!
//! The runtime publishes a [`ServingSnapshot`] on a `watch` channel: one
//! [`ServingRoute`] per host (`<name>.<ns>.<domain>`, and
//! `<tag>-<name>.<ns>.<domain>` per traffic tag) splitting by percent over
//! revision Services, and every revision Service the activator guards. The
//! runtime implements [`Autoscaler`]: the gateway reports a revision's
//! in-flight requests (forwarded plus held) each time the count changes, so
//! a request for a revision at zero asks for a pod at once (push, no poll).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::mesh::ServiceKey;

/// One revision's share of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingTarget {
    /// The revision's Service (`<ns>/<revision>`).
    pub service: ServiceKey,
    /// Percent of the host's requests (0–100).
    pub percent: u32,
}

/// A host the gateway serves for a Knative Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingRoute {
    /// Lower-case host name, no port.
    pub host: String,
    /// `Route/<ns>/<name>` (or `Route/<ns>/<name> tag <tag>`), for metrics and logs.
    pub origin: String,
    pub targets: Vec<ServingTarget>,
}

/// What the activator needs to know of a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingRevision {
    /// `containerConcurrency` (0: unlimited).
    pub container_concurrency: u32,
}

/// Every Knative route and revision of a region at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServingSnapshot {
    pub routes: Vec<ServingRoute>,
    /// Revision Services the activator holds requests for while they have
    /// no ready pod.
    pub revisions: BTreeMap<ServiceKey, ServingRevision>,
}

/// The load of one revision, as the gateway sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionLoad {
    /// Requests forwarded to its pods and not yet answered.
    pub in_flight: u32,
    /// Requests the activator holds while it has no ready pod.
    pub held: u32,
}

impl RevisionLoad {
    /// Concurrent requests the revision is asked to serve.
    pub fn concurrency(&self) -> u32 {
        self.in_flight + self.held
    }
}

/// Receives revision load from the gateway (the runtime's autoscaler).
pub trait Autoscaler: Send + Sync + fmt::Debug {
    /// The load of revision Service `service` changed to `load`.
    fn report(&self, service: &ServiceKey, load: RevisionLoad);
}

/// Shared handle type.
pub type SharedAutoscaler = Arc<dyn Autoscaler>;
