//! The activator, as Knative Serving's: requests for a Knative revision
//! (ferry-core `serving`) that has no ready pod are held here, not
//! answered 503. Holding one pushes the revision's load to the runtime's
//! autoscaler at once, which scales it up from zero; the held requests are
//! released the moment the Service snapshot shows a ready pod that accepts
//! a connection (the activator probes it, as Knative's does, since a pod
//! without a readiness probe is ready before its server listens). At most
//! `activator_queue` requests are held per revision and each for at most
//! `activator_timeout`; beyond either the answer is 503 with `Retry-After`.
//! Every request to a revision counts as in flight until its response head
//! arrives, and each change of a revision's count is reported: the
//! autoscaler decides on pushed counts, never by polling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ferry_core::mesh::{Endpoint, ServiceKey, SharedDialer};
use ferry_core::serving::{RevisionLoad, ServingSnapshot, SharedAutoscaler};
use ferry_core::sync::{MutexExt, RwLockExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::Notify;

use crate::proxy::Resolved;

/// Seconds a client is told to wait when the activator turns it away.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The activator's state, one per gateway.
#[derive(Debug)]
pub struct Activator {
    pub(crate) snapshot: ArcSwap<ServingSnapshot>,
    autoscaler: RwLock<Option<SharedAutoscaler>>,
    revisions: Mutex<HashMap<ServiceKey, Arc<Counts>>>,
    /// Woken whenever the Service snapshot changes.
    services_changed: Notify,
    queue: usize,
    timeout: Duration,
    /// Seconds from holding a request to releasing it (cold start).
    pub cold_start: Histogram,
    /// Requests turned away (queue full or timed out).
    pub overflow: Counter,
}

/// A revision's requests.
#[derive(Debug, Default)]
struct Counts {
    in_flight: AtomicU32,
    held: AtomicU32,
}

/// Why the activator answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    QueueFull,
    Timeout,
}

/// A request admitted to a revision; dropping it ends its flight.
#[derive(Debug)]
pub struct Admitted {
    key: ServiceKey,
    counts: Arc<Counts>,
    autoscaler: Option<SharedAutoscaler>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.counts.in_flight.fetch_sub(1, Ordering::SeqCst);
        report(self.autoscaler.as_ref(), &self.key, &self.counts);
    }
}

fn report(a: Option<&SharedAutoscaler>, key: &ServiceKey, c: &Counts) {
    if let Some(a) = a {
        let load = RevisionLoad {
            in_flight: c.in_flight.load(Ordering::SeqCst),
            held: c.held.load(Ordering::SeqCst),
        };
        a.report(key, load);
    }
}

impl Activator {
    pub fn new(queue: usize, timeout: Duration) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(ServingSnapshot::default()),
            autoscaler: RwLock::new(None),
            revisions: Mutex::new(HashMap::new()),
            services_changed: Notify::new(),
            queue,
            timeout,
            cold_start: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            overflow: Counter::default(),
        }
    }

    /// Registers `ferry_gateway_activator_cold_start_seconds` and
    /// `ferry_gateway_activator_refused_total`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        let r = registry.sub_registry_with_prefix("gateway_activator");
        r.register(
            "cold_start_seconds",
            "Time the activator held a request for a Knative revision until a pod of it was ready",
            self.cold_start.clone(),
        );
        r.register(
            "refused",
            "Requests the activator answered 503 (queue full or no pod in time)",
            self.overflow.clone(),
        );
    }

    pub(crate) fn set_autoscaler(&self, a: SharedAutoscaler) {
        *self.autoscaler.write_or_recover() = Some(a);
    }

    /// The Service snapshot changed: held requests look again.
    pub(crate) fn services_changed(&self) {
        self.services_changed.notify_waiters();
    }

    fn counts(&self, key: &ServiceKey) -> Arc<Counts> {
        let mut map = self.revisions.lock_or_recover();
        map.entry(key.clone()).or_default().clone()
    }

    /// Whether `service` is a Knative revision the activator guards.
    pub(crate) fn guards(&self, service: &ServiceKey) -> bool {
        self.snapshot.load().revisions.contains_key(service)
    }

    /// Admits a request to `service`: `None` when it is no Knative revision;
    /// otherwise once it has a ready pod, holding the request until then.
    pub(crate) async fn admit(
        &self,
        service: &ServiceKey,
        services: &ArcSwap<Resolved>,
        dialer: &SharedDialer,
    ) -> Result<Option<Admitted>, Refused> {
        if !self.snapshot.load().revisions.contains_key(service) {
            return Ok(None);
        }
        let counts = self.counts(service);
        let autoscaler = self.autoscaler.read_or_recover().clone();
        if ready_endpoint(services, service).is_none() {
            if counts.held.fetch_add(1, Ordering::SeqCst) as usize >= self.queue {
                counts.held.fetch_sub(1, Ordering::SeqCst);
                self.overflow.inc();
                return Err(Refused::QueueFull);
            }
            report(autoscaler.as_ref(), service, &counts);
            let start = Instant::now();
            let waited =
                tokio::time::timeout(self.timeout, self.wait_ready(service, services, dialer))
                    .await;
            counts.held.fetch_sub(1, Ordering::SeqCst);
            if waited.is_err() {
                report(autoscaler.as_ref(), service, &counts);
                self.overflow.inc();
                return Err(Refused::Timeout);
            }
            self.cold_start.observe(start.elapsed().as_secs_f64());
            tracing::debug!(%service, waited = ?start.elapsed(), "activator released a request");
        }
        counts.in_flight.fetch_add(1, Ordering::SeqCst);
        report(autoscaler.as_ref(), service, &counts);
        Ok(Some(Admitted {
            key: service.clone(),
            counts,
            autoscaler,
        }))
    }

    /// Until a ready pod of `service` accepts a connection.
    async fn wait_ready(
        &self,
        service: &ServiceKey,
        services: &ArcSwap<Resolved>,
        dialer: &SharedDialer,
    ) {
        loop {
            let changed = self.services_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match ready_endpoint(services, service) {
                Some((ep, port)) => {
                    if dialer.dial(&ep, port).await.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                None => changed.await,
            }
        }
    }
}

/// A ready pod of `service` and its container port for the Service's
/// first port.
fn ready_endpoint(services: &ArcSwap<Resolved>, service: &ServiceKey) -> Option<(Endpoint, u16)> {
    let services = services.load();
    let entry = &services.services.get(service)?.entry;
    let port = entry.ports.first()?.port;
    entry
        .endpoints
        .iter()
        .find(|e| e.ready && e.ports.contains_key(&port))
        .map(|e| (e.clone(), e.ports[&port]))
}
