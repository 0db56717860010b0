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
use tokio::sync::watch;

use crate::knative_scale::Observed;
use crate::runtime::Inner;

/// Knative state kept in memory (rebuilt after a restart).
#[derive(Debug)]
pub struct Serving {
    pub routes: watch::Sender<ServingSnapshot>,
    loads: Mutex<HashMap<ServiceKey, Load>>,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            routes: watch::Sender::new(ServingSnapshot::default()),
            loads: Mutex::new(HashMap::new()),
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
}

impl Load {
    fn new(now: Instant) -> Self {
        Self {
            concurrency: 0,
            samples: VecDeque::new(),
            last_active: None,
            created: now,
            replicas: 0,
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
        c > 0 && l.replicas == 0
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

    /// Notes the replicas decided for a revision.
    pub fn decided(&self, service: &ServiceKey, replicas: u32) {
        if let Some(l) = self.loads.lock_or_recover().get_mut(service) {
            l.replicas = replicas;
        }
    }

    /// Forgets revisions that no longer exist.
    pub fn retain(&self, live: impl Fn(&ServiceKey) -> bool) {
        self.loads.lock_or_recover().retain(|k, _| live(k));
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

    /// Where the gateway pushes revision load.
    pub fn autoscaler(&self) -> SharedAutoscaler {
        Arc::new(Reports(Arc::downgrade(&self.inner)))
    }
}
