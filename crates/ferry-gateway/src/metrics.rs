//! Prometheus metrics of the gateway, registered under the `gateway` prefix
//! of the region's registry (so `ferry_gateway_requests_total` etc.). Labels
//! are per route, destination service, subset and response code, so a
//! Flagger-style success rate or p99 is a one-line query (ARCHITECTURE.md).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of every per-request metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `north` (entering the region) or `mesh` (pod to service).
    pub direction: String,
    pub route: String,
    pub destination_service: String,
    pub destination_subset: String,
    pub response_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MirrorLabels {
    pub route: String,
    pub destination_service: String,
    /// `sent`, `failed` or `skipped_body_too_large`.
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    pub route: String,
    /// `delay` or `abort`.
    pub fault: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnLabels {
    pub direction: String,
}

type HistFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// Every gateway metric; cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: HistFamily,
    pub request_bytes: HistFamily,
    pub response_bytes: HistFamily,
    pub active_connections: Family<ConnLabels, Gauge>,
    pub mirrors: Family<MirrorLabels, Counter>,
    pub faults: Family<FaultLabels, Counter>,
    pub retries: Family<RequestLabels, Counter>,
    pub ejections: Counter,
    /// `active_connections` handles per direction, resolved once.
    active_north: Gauge,
    active_mesh: Gauge,
}

/// Counts one open downstream connection until dropped.
#[derive(Debug)]
pub struct ActiveConnection(Gauge);

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn duration_hist() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn size_hist() -> Histogram {
    Histogram::new(exponential_buckets(64.0, 4.0, 10))
}

impl Default for Metrics {
    fn default() -> Self {
        let active_connections = Family::<ConnLabels, Gauge>::default();
        let active = |direction: &str| {
            active_connections
                .get_or_create(&ConnLabels {
                    direction: direction.into(),
                })
                .clone()
        };
        let (active_north, active_mesh) = (active("north"), active("mesh"));
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_hist),
            request_bytes: Family::new_with_constructor(size_hist),
            response_bytes: Family::new_with_constructor(size_hist),
            active_connections,
            active_north,
            active_mesh,
            mirrors: Family::default(),
            faults: Family::default(),
            retries: Family::default(),
            ejections: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts an open connection in `direction` (`north` or `mesh`) until
    /// the guard is dropped.
    pub fn connection(&self, direction: &str) -> ActiveConnection {
        let g = if direction == "mesh" {
            self.active_mesh.clone()
        } else {
            self.active_north.clone()
        };
        g.inc();
        ActiveConnection(g)
    }

    /// Registers every metric under `gateway_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gateway");
        r.register(
            "requests",
            "Requests answered, by route, destination and response code",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request head to response head",
            self.duration.clone(),
        );
        r.register(
            "request_bytes",
            "Request body sizes (Content-Length)",
            self.request_bytes.clone(),
        );
        r.register(
            "response_bytes",
            "Response body sizes (Content-Length)",
            self.response_bytes.clone(),
        );
        r.register(
            "active_connections",
            "Open downstream connections",
            self.active_connections.clone(),
        );
        r.register(
            "mirror_requests",
            "Mirrored requests by outcome",
            self.mirrors.clone(),
        );
        r.register(
            "faults",
            "Injected faults by route and kind",
            self.faults.clone(),
        );
        r.register(
            "retries",
            "Retried tries by route and destination",
            self.retries.clone(),
        );
        r.register(
            "outlier_ejections",
            "Endpoints ejected by outlier detection",
            self.ejections.clone(),
        );
    }
}
