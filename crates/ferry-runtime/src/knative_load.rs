//! The runtime's side of ferry-core's `serving` contract: the routes the
//! Knative controller publishes for the gateway, and the [`Autoscaler`] the
//! gateway pushes each revision's concurrency to. A report that finds a
//! revision at zero with requests waiting wakes the controller at once, so
//! scale-from-zero never waits for a polling period.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ferry_core::mesh::ServiceKey;
use ferry_core::serving::{Autoscaler, RevisionLoad, ServingSnapshot, SharedAutoscaler};
use ferry_core::sync::MutexExt;
use serde_json::Value;
use tokio::sync::watch;

use crate::cold_start::{Finish, PHASES};
use crate::knative_scale::Observed;
use crate::runtime::Inner;

/// Knative state kept in memory (rebuilt after a restart).
#[derive(Debug)]
pub struct Serving {
    pub routes: watch::Sender<ServingSnapshot>,
    loads: Mutex<HashMap<ServiceKey, Load>>,
    /// Knative pods' start marks and the cold-start histogram.
    pub cold: crate::cold_start::ColdStarts,
    /// Revisions starting at zero being (or done being) pre-warmed.
    pub prewarms: crate::knative_prewarm::Prewarms,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            routes: watch::Sender::new(ServingSnapshot::default()),
            loads: Mutex::new(HashMap::new()),
            cold: Default::default(),
            prewarms: Default::default(),
        }
    }
}

/// One revision's load history.
#[derive(Debug)]
struct Load {
    concurrency: u32,
    /// Concurrency after each change, newest last (pruned to the window).
    samples: VecDeque<(Instant, u32)>,
    last_active: Option<Instant>,
    created: Instant,
    /// The replicas the controller last decided.
    replicas: u32,
    /// When a request found the revision at zero, until a pod is ready.
    cold_since: Option<Instant>,
}

impl Load {
    fn new(now: Instant) -> Self {
        Self {
            concurrency: 0,
            samples: VecDeque::new(),
            last_active: None,
            created: now,
            replicas: 0,
            cold_since: None,
        }
    }
}

impl Serving {
    /// Records a report; true when the revision has requests and no pods
    /// decided yet (the controller should run now).
    fn record(&self, service: &ServiceKey, load: RevisionLoad, now: Instant) -> bool {
        let mut loads = self.loads.lock_or_recover();
        let l = loads
            .entry(service.clone())
            .or_insert_with(|| Load::new(now));
        let c = load.concurrency();
        if c > 0 || l.concurrency > 0 {
            l.last_active = Some(now);
        }
        l.concurrency = c;
        l.samples.push_back((now, c));
        if l.samples.len() > 4096 {
            l.samples.pop_front();
        }
        let cold = c > 0 && l.replicas == 0;
        if cold && l.cold_since.is_none() {
            l.cold_since = Some(now);
        }
        cold
    }

    /// When a request found the revision at zero, if no pod of it has been
    /// ready since.
    pub fn cold_since(&self, service: &ServiceKey) -> Option<Instant> {
        self.loads.lock_or_recover().get(service)?.cold_since
    }

    /// The revision's cold start is over (measured or not).
    pub fn warm(&self, service: &ServiceKey) {
        if let Some(l) = self.loads.lock_or_recover().get_mut(service) {
            l.cold_since = None;
        }
    }

    /// The revision's load as the autoscaler decides on it.
    pub fn observe(&self, service: &ServiceKey, window: Duration, now: Instant) -> Observed {
        let mut loads = self.loads.lock_or_recover();
        let l = loads
            .entry(service.clone())
            .or_insert_with(|| Load::new(now));
        while l
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > window)
        {
            l.samples.pop_front();
        }
        let peak = l.samples.iter().map(|(_, c)| *c).max().unwrap_or(0);
        let idle_for = match l.concurrency {
            0 => now.duration_since(l.last_active.unwrap_or(l.created)),
            _ => Duration::ZERO,
        };
        Observed {
            concurrency: l.concurrency,
            peak: peak.max(l.concurrency),
            idle_for,
            ever_active: l.last_active.is_some(),
        }
    }

    /// Once a revision that was cold has a ready pod: its cold start as
    /// kept in `status.lastColdStart` when one of its pods was marked
    /// (observed in the histogram, and an event), else `None`.
    pub fn finish_cold(&self, inner: &Inner, key: &ServiceKey, uids: &[String]) -> Option<Value> {
        let since = self.cold_since(key)?;
        let record = match self.cold.finish(since, uids) {
            Finish::Done(r) => r,
            Finish::Pending if since.elapsed() < Duration::from_secs(600) => return None,
            Finish::Pending | Finish::Untracked => {
                self.warm(key);
                return None;
            }
        };
        self.warm(key);
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        let phases: Vec<String> = PHASES
            .iter()
            .zip(record.phases)
            .map(|(p, d)| format!("{p} {}", ms(d)))
            .collect();
        let message = format!("cold start {}: {}", ms(record.total), phases.join(", "));
        tracing::info!(revision = %key, total = ?record.total, "{message}");
        inner.event(
            "Revision",
            &key.namespace,
            &key.name,
            false,
            "ColdStart",
            message,
        );
        Some(record.to_status(&crate::runtime::now()))
    }

    /// Notes the replicas decided for a revision.
    pub fn decided(&self, service: &ServiceKey, replicas: u32) {
        if let Some(l) = self.loads.lock_or_recover().get_mut(service) {
            l.replicas = replicas;
        }
    }

    /// Forgets revisions that no longer exist.
    pub fn retain(&self, live: impl Fn(&ServiceKey) -> bool) {
        self.loads.lock_or_recover().retain(|k, _| live(k));
        self.prewarms.retain(live);
    }
}

/// The [`Autoscaler`] handed to the gateway.
#[derive(Debug)]
struct Reports(Weak<Inner>);

impl Autoscaler for Reports {
    fn report(&self, service: &ServiceKey, load: RevisionLoad) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        if inner.serving.record(service, load, Instant::now()) {
            tracing::debug!(%service, held = load.held, "scale from zero");
            inner.kick();
        }
    }
}

impl crate::Runtime {
    /// The Knative routes and revisions, for the gateway's activator.
    pub fn serving(&self) -> watch::Receiver<ServingSnapshot> {
        self.inner.serving.routes.subscribe()
    }

    /// Registers `ferry_runtime_cold_start_seconds{phase}` (the region's
    /// prefix first): Knative revisions' cold starts by phase, and total.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.sub_registry_with_prefix("runtime").register(
            "cold_start_seconds",
            "Knative revisions' scale-from-zero time, from the request to a ready pod, by phase (schedule, image, rootfs, process, readiness) and total",
            self.inner.serving.cold.seconds.clone(),
        );
    }

    /// Where the gateway pushes revision load.
    pub fn autoscaler(&self) -> SharedAutoscaler {
        Arc::new(Reports(Arc::downgrade(&self.inner)))
    }
}
