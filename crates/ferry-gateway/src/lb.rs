//! Endpoint selection per destination (Service, subset, port): load
//! balancing (round robin, least request, random, consistent hash by
//! rendezvous hashing), outlier detection state (consecutive errors eject an
//! endpoint for baseEjectionTime × times ejected, capped by
//! maxEjectionPercent, at least one), and connection-pool limits. Pure
//! state machines; the clock is passed in.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ferry_core::mesh::Endpoint;
use ferry_core::sync::MutexExt;
use tokio::sync::Semaphore;

use crate::table::{LoadBalancer, OutlierPolicy, TrafficPolicy};

/// State of one destination.
#[derive(Debug)]
pub struct Cluster {
    rr: AtomicUsize,
    endpoints: Mutex<States>,
    /// Limits concurrent requests (connectionPool), with its configured size.
    pub limit: Option<(Arc<Semaphore>, u32)>,
    pub pending: AtomicUsize,
}

/// Per-endpoint state by pod name.
#[derive(Debug, Default)]
struct States {
    by_pod: HashMap<String, EndpointState, foldhash::fast::RandomState>,
    /// Endpoints whose `ejected_until` is set (expired or not): while none
    /// is, every candidate is healthy and picking looks none of them up.
    ejected: usize,
}

#[derive(Debug, Default, Clone)]
struct EndpointState {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
    active: usize,
}

/// How a try ended, for outlier detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// Connect failure, reset or timeout (a gateway error).
    Failed,
}

/// The endpoint [`Cluster::pick`] chose.
#[derive(Debug, Clone, Copy)]
pub struct Picked<'e> {
    /// Its position in the slice given to `pick`.
    pub index: usize,
    pub endpoint: &'e Endpoint,
    /// How many candidates there were, ejected ones included (the total
    /// maxEjectionPercent is taken of).
    pub candidates: usize,
}

impl States {
    /// True unless `e` is ejected at `now()`; restores it if its ejection is
    /// over. The clock is read only when some endpoint is ejected.
    fn check(&mut self, e: &Endpoint, now: &mut impl FnMut() -> Instant) -> bool {
        if self.ejected == 0 {
            return true;
        }
        // No state yet: never ejected.
        let Some(s) = self.by_pod.get_mut(&e.pod) else {
            return true;
        };
        match s.ejected_until {
            Some(t) if t > now() => false,
            Some(_) => {
                s.ejected_until = None;
                self.ejected -= 1;
                tracing::info!(pod = %e.pod, "outlier detection: endpoint restored");
                true
            }
            None => true,
        }
    }

    fn active(&self, e: &Endpoint) -> usize {
        self.by_pod.get(&e.pod).map_or(0, |s| s.active)
    }
}

/// The rendezvous weight of `pod` for `key` (SipHash with fixed keys, so a
/// key maps to the same endpoint in every gateway process).
fn rendezvous(key: &str, pod: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (key, pod).hash(&mut h);
    h.finish()
}

impl Cluster {
    /// A fresh cluster with `policy`'s connection limits.
    pub fn new(policy: &TrafficPolicy) -> Self {
        let limit = policy
            .max_connections
            .or(policy.max_requests)
            .map(|n| (Arc::new(Semaphore::new(n as usize)), n));
        Self {
            rr: AtomicUsize::new(0),
            endpoints: Mutex::default(),
            limit,
            pending: AtomicUsize::new(0),
        }
    }

    /// Picks with `lb` among the `endpoints` for which `candidate` holds
    /// (ready ones), skipping ejected ones. `hash` is the consistent-hash
    /// key when the policy has one; `clock` tells the time, and is asked
    /// only while some endpoint is ejected (once at most). One pass over the
    /// endpoints collects the eligible ones' positions (on the stack for up
    /// to 16; allocating nothing else but the first state of an endpoint).
    pub fn pick<'e>(
        &self,
        endpoints: &'e [Endpoint],
        candidate: impl Fn(&Endpoint) -> bool,
        lb: &LoadBalancer,
        hash: Option<&str>,
        clock: impl Fn() -> Instant,
    ) -> Option<Picked<'e>> {
        let mut states = self.endpoints.lock_or_recover();
        let mut at = None;
        let mut now = || *at.get_or_insert_with(&clock);
        let (mut small, mut large) = ([0usize; 16], Vec::new());
        let (mut candidates, mut healthy) = (0, 0);
        for (i, e) in endpoints.iter().enumerate() {
            if !candidate(e) {
                continue;
            }
            candidates += 1;
            if !states.check(e, &mut now) {
                continue;
            }
            if healthy < small.len() {
                small[healthy] = i;
            } else {
                if large.is_empty() {
                    large.extend_from_slice(&small);
                }
                large.push(i);
            }
            healthy += 1;
        }
        let eligible: &[usize] = if healthy <= small.len() {
            &small[..healthy]
        } else {
            &large
        };
        if eligible.is_empty() {
            return None;
        }
        let nth = |n: usize| eligible[n % eligible.len()];
        let index = match (lb, hash) {
            (
                LoadBalancer::HashHeader(_)
                | LoadBalancer::HashCookie(_)
                | LoadBalancer::HashQuery(_)
                | LoadBalancer::HashSourceIp,
                Some(key),
            ) => {
                // Rendezvous hashing: stable per key, minimal movement on change.
                *eligible
                    .iter()
                    .max_by_key(|&&i| rendezvous(key, &endpoints[i].pod))?
            }
            (LoadBalancer::Random, _) => nth(fastrand::usize(..healthy)),
            (LoadBalancer::LeastRequest, _) => {
                // Power of two choices.
                let a = nth(fastrand::usize(..healthy));
                let b = nth(fastrand::usize(..healthy));
                if states.active(&endpoints[b]) < states.active(&endpoints[a]) {
                    b
                } else {
                    a
                }
            }
            _ => nth(self.rr.fetch_add(1, Ordering::Relaxed) % healthy),
        };
        let endpoint = &endpoints[index];
        match states.by_pod.get_mut(&endpoint.pod) {
            Some(s) => s.active += 1,
            None => {
                let s = EndpointState {
                    active: 1,
                    ..Default::default()
                };
                states.by_pod.insert(endpoint.pod.clone(), s);
            }
        }
        Some(Picked {
            index,
            endpoint,
            candidates,
        })
    }

    /// Records how a request to `pod` ended; may eject it. True when this
    /// report ejected it. `clock` is asked only when the outcome trips the
    /// outlier policy.
    pub fn report(
        &self,
        pod: &str,
        outcome: Outcome,
        policy: Option<&OutlierPolicy>,
        total: usize,
        clock: impl FnOnce() -> Instant,
    ) -> bool {
        let mut guard = self.endpoints.lock_or_recover();
        let states = &mut *guard;
        let Some(s) = states.by_pod.get_mut(pod) else {
            return false;
        };
        s.active = s.active.saturating_sub(1);
        let (is_5xx, is_gateway) = match outcome {
            Outcome::Status(c) => (c >= 500, matches!(c, 502..=504)),
            Outcome::Failed => (true, true),
        };
        s.consecutive_5xx = if is_5xx { s.consecutive_5xx + 1 } else { 0 };
        s.consecutive_gateway = if is_gateway {
            s.consecutive_gateway + 1
        } else {
            0
        };
        let Some(p) = policy else { return false };
        let tripped = p.consecutive_5xx.is_some_and(|n| s.consecutive_5xx >= n)
            || p.consecutive_gateway
                .is_some_and(|n| s.consecutive_gateway >= n);
        if !tripped {
            return false;
        }
        let now = clock();
        if s.ejected_until.is_some_and(|t| t > now) {
            return false;
        }
        let max = ((total as u64 * u64::from(p.max_ejection_percent)) / 100).max(1) as usize;
        let ejected_now = states
            .by_pod
            .values()
            .filter(|s| s.ejected_until.is_some_and(|t| t > now))
            .count();
        let s = states.by_pod.get_mut(pod).expect("present above");
        if ejected_now < max {
            if s.ejected_until.is_none() {
                states.ejected += 1;
            }
            s.times_ejected += 1;
            s.ejected_until = Some(now + p.base_ejection * s.times_ejected);
            s.consecutive_5xx = 0;
            s.consecutive_gateway = 0;
            tracing::info!(%pod, until = ?p.base_ejection * s.times_ejected, "outlier detection: endpoint ejected");
            return true;
        }
        false
    }

    /// Releases the active count without judging the outcome (cancelled tries).
    pub fn release(&self, pod: &str) {
        if let Some(s) = self.endpoints.lock_or_recover().by_pod.get_mut(pod) {
            s.active = s.active.saturating_sub(1);
        }
    }

    /// True when `pod` is ejected at `now`.
    pub fn is_ejected(&self, pod: &str, now: Instant) -> bool {
        self.endpoints
            .lock_or_recover()
            .by_pod
            .get(pod)
            .and_then(|s| s.ejected_until)
            .is_some_and(|t| t > now)
    }
}

#[cfg(test)]
#[path = "lb_tests.rs"]
mod tests;
