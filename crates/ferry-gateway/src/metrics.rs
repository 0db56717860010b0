//! Prometheus metrics of the gateway, registered under the `gateway` prefix
//! of the region's registry (so `ferry_gateway_requests_total` etc.). Labels
//! are per route, destination service, subset and response code, so a
//! Flagger-style success rate or p99 is a one-line query (ARCHITECTURE.md).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use ferry_core::sync::MutexExt;
use foldhash::fast::RandomState;

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
    /// Idle keep-alive connections parked (their buffers freed).
    pub parks: Counter,
    /// `active_connections` handles per direction, resolved once.
    active_north: Gauge,
    active_mesh: Gauge,
    /// The four per-request metrics of each label set seen, found by a hash
    /// of the borrowed labels (no label strings are built per request).
    request_cache: Arc<Mutex<RequestCache>>,
}

/// Per-request metric handles by a foldhash of their [`RequestKey`]; equal
/// hashes share a list (label sets come from the route table and status
/// codes, so there are few).
#[derive(Debug, Default)]
struct RequestCache {
    hasher: RandomState,
    by_hash: HashMap<u64, Vec<CachedStats>, RandomState>,
}

/// The labels of one answered request, borrowed from the route table.
#[derive(Debug, Clone, Copy, Hash)]
pub struct RequestKey<'a> {
    pub direction: &'static str,
    pub route: &'a str,
    /// Destination Service `(name, namespace)`, if the request had one.
    pub service: Option<(&'a str, &'a str)>,
    pub subset: &'a str,
    pub status: u16,
}

/// What one request adds to its label set's metrics.
#[derive(Debug, Clone, Copy)]
pub struct RequestSample {
    pub seconds: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

#[derive(Debug)]
struct CachedStats {
    labels: RequestLabels,
    status: u16,
    requests: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

impl CachedStats {
    fn matches(&self, k: &RequestKey<'_>) -> bool {
        let l = &self.labels;
        let service_matches = match k.service {
            None => l.destination_service.is_empty(),
            Some((name, ns)) => {
                l.destination_service.len() == name.len() + 1 + ns.len()
                    && l.destination_service.starts_with(name)
                    && l.destination_service[name.len()..].starts_with('.')
                    && l.destination_service.ends_with(ns)
            }
        };
        self.status == k.status
            && l.direction == k.direction
            && l.route == k.route
            && l.destination_subset == k.subset
            && service_matches
    }
}

impl RequestKey<'_> {
    /// The label set as prometheus-client stores it.
    pub fn labels(&self) -> RequestLabels {
        RequestLabels {
            direction: self.direction.to_string(),
            route: self.route.to_string(),
            destination_service: self
                .service
                .map(|(name, ns)| format!("{name}.{ns}"))
                .unwrap_or_default(),
            destination_subset: self.subset.to_string(),
            response_code: self.status.to_string(),
        }
    }
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
            request_cache: Arc::default(),
            mirrors: Family::default(),
            faults: Family::default(),
            retries: Family::default(),
            ejections: Counter::default(),
            parks: Counter::default(),
        }
    }
}

impl Metrics {
    /// Records one answered request (count, duration, body sizes) under `key`.
    pub fn record_request(&self, key: &RequestKey<'_>, sample: RequestSample) {
        let mut cache = self.request_cache.lock_or_recover();
        let hash = cache.hasher.hash_one(key);
        let entries = cache.by_hash.entry(hash).or_default();
        let i = match entries.iter().position(|c| c.matches(key)) {
            Some(i) => i,
            None => {
                let labels = key.labels();
                entries.push(CachedStats {
                    status: key.status,
                    requests: self.requests.get_or_create(&labels).clone(),
                    duration: self.duration.get_or_create(&labels).clone(),
                    request_bytes: self.request_bytes.get_or_create(&labels).clone(),
                    response_bytes: self.response_bytes.get_or_create(&labels).clone(),
                    labels,
                });
                entries.len() - 1
            }
        };
        let c = &entries[i];
        c.requests.inc();
        c.duration.observe(sample.seconds);
        c.request_bytes.observe(sample.request_bytes as f64);
        c.response_bytes.observe(sample.response_bytes as f64);
    }

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
        r.register(
            "connection_parks",
            "Idle keep-alive connections parked (their buffers freed until the next request)",
            self.parks.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    const SAMPLE: RequestSample = RequestSample {
        seconds: 0.001,
        request_bytes: 10,
        response_bytes: 100,
    };

    fn key(status: u16) -> RequestKey<'static> {
        RequestKey {
            direction: "north",
            route: "web",
            service: Some(("web", "default")),
            subset: "v1",
            status,
        }
    }

    #[test]
    fn each_label_set_counts_in_its_own_series() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.record_request(&key(200), SAMPLE);
        }
        m.record_request(&key(503), SAMPLE);
        let unrouted = RequestKey {
            service: None,
            subset: "",
            ..key(404)
        };
        m.record_request(&unrouted, SAMPLE);
        let mesh = RequestKey {
            direction: "mesh",
            ..key(200)
        };
        m.record_request(&mesh, SAMPLE);
        let count = |k: &RequestKey<'_>| m.requests.get_or_create(&k.labels()).get();
        assert_eq!(count(&key(200)), 3);
        assert_eq!(count(&key(503)), 1);
        assert_eq!(count(&unrouted), 1);
        assert_eq!(count(&mesh), 1);
        let cache = m.request_cache.lock().unwrap();
        assert_eq!(cache.by_hash.values().map(Vec::len).sum::<usize>(), 4);
    }

    #[test]
    fn recorded_requests_are_exported_with_their_labels() {
        let m = Metrics::default();
        m.record_request(&key(200), SAMPLE);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        let labels = r#"direction="north",route="web",destination_service="web.default",destination_subset="v1",response_code="200""#;
        assert!(
            text.contains(&format!("gateway_requests_total{{{labels}}} 1")),
            "{text}"
        );
        assert!(text.contains(&format!("gateway_request_bytes_count{{{labels}}} 1")));
    }
}
