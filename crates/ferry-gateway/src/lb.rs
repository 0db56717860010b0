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
use tokio::sync::Semaphore;

use crate::table::{LoadBalancer, OutlierPolicy, TrafficPolicy};

/// State of one destination.
#[derive(Debug)]
pub struct Cluster {
    rr: AtomicUsize,
    endpoints: Mutex<HashMap<String, EndpointState>>,
    /// Limits concurrent requests (connectionPool), with its configured size.
    pub limit: Option<(Arc<Semaphore>, u32)>,
    pub pending: AtomicUsize,
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

impl Cluster {
    /// A fresh cluster with `policy`'s connection limits.
    pub fn new(policy: &TrafficPolicy) -> Self {
        let limit = policy
            .max_connections
            .or(policy.max_requests)
            .map(|n| (Arc::new(Semaphore::new(n as usize)), n));
        Self {
            rr: AtomicUsize::new(0),
            endpoints: Mutex::new(HashMap::new()),
            limit,
            pending: AtomicUsize::new(0),
        }
    }

    /// Picks among `candidates` (ready endpoints) with `lb`, skipping ejected
    /// ones. `hash` is the consistent-hash key when the policy has one.
    pub fn pick<'e>(
        &self,
        candidates: &[&'e Endpoint],
        lb: &LoadBalancer,
        hash: Option<&str>,
        now: Instant,
    ) -> Option<&'e Endpoint> {
        let mut states = self.endpoints.lock().expect("lb lock");
        let healthy: Vec<&'e Endpoint> = candidates
            .iter()
            .copied()
            .filter(|e| {
                // No state yet: never ejected (and no allocation per request).
                let Some(s) = states.get_mut(&e.pod) else {
                    return true;
                };
                match s.ejected_until {
                    Some(t) if t > now => false,
                    Some(_) => {
                        s.ejected_until = None;
                        tracing::info!(pod = %e.pod, "outlier detection: endpoint restored");
                        true
                    }
                    None => true,
                }
            })
            .collect();
        if healthy.is_empty() {
            return None;
        }
        let chosen = match (lb, hash) {
            (
                LoadBalancer::HashHeader(_)
                | LoadBalancer::HashCookie(_)
                | LoadBalancer::HashQuery(_)
                | LoadBalancer::HashSourceIp,
                Some(key),
            ) => {
                // Rendezvous hashing: stable per key, minimal movement on change.
                *healthy.iter().max_by_key(|e| {
                    let mut h = DefaultHasher::new();
                    (key, &e.pod).hash(&mut h);
                    h.finish()
                })?
            }
            (LoadBalancer::Random, _) => healthy[fastrand::usize(..healthy.len())],
            (LoadBalancer::LeastRequest, _) => {
                // Power of two choices.
                let a = healthy[fastrand::usize(..healthy.len())];
                let b = healthy[fastrand::usize(..healthy.len())];
                let active = |e: &Endpoint| states.get(&e.pod).map_or(0, |s| s.active);
                if active(b) < active(a) { b } else { a }
            }
            _ => healthy[self.rr.fetch_add(1, Ordering::Relaxed) % healthy.len()],
        };
        match states.get_mut(&chosen.pod) {
            Some(s) => s.active += 1,
            None => {
                let s = EndpointState {
                    active: 1,
                    ..Default::default()
                };
                states.insert(chosen.pod.clone(), s);
            }
        }
        Some(chosen)
    }

    /// Records how a request to `pod` ended; may eject it. True when this
    /// report ejected it.
    pub fn report(
        &self,
        pod: &str,
        outcome: Outcome,
        policy: Option<&OutlierPolicy>,
        total: usize,
        now: Instant,
    ) -> bool {
        let mut states = self.endpoints.lock().expect("lb lock");
        let Some(s) = states.get_mut(pod) else {
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
        if !tripped || s.ejected_until.is_some_and(|t| t > now) {
            return false;
        }
        let max = ((total as u64 * u64::from(p.max_ejection_percent)) / 100).max(1) as usize;
        let ejected_now = states
            .values()
            .filter(|s| s.ejected_until.is_some_and(|t| t > now))
            .count();
        let s = states.get_mut(pod).expect("present above");
        if ejected_now < max {
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
        if let Some(s) = self.endpoints.lock().expect("lb lock").get_mut(pod) {
            s.active = s.active.saturating_sub(1);
        }
    }

    /// True when `pod` is ejected at `now`.
    pub fn is_ejected(&self, pod: &str, now: Instant) -> bool {
        self.endpoints
            .lock()
            .expect("lb lock")
            .get(pod)
            .and_then(|s| s.ejected_until)
            .is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ep(pod: &str) -> Endpoint {
        Endpoint {
            pod: pod.into(),
            labels: Default::default(),
            ready: true,
            netns: None,
            ip: "127.0.0.1".parse().unwrap(),
            ports: Default::default(),
        }
    }

    #[test]
    fn round_robin_cycles() {
        let c = Cluster::new(&TrafficPolicy::default());
        let (a, b) = (ep("a"), ep("b"));
        let now = Instant::now();
        let picks: Vec<_> = (0..4)
            .map(|_| {
                c.pick(&[&a, &b], &LoadBalancer::RoundRobin, None, now)
                    .unwrap()
                    .pod
                    .clone()
            })
            .collect();
        assert_eq!(picks, ["a", "b", "a", "b"]);
    }

    #[test]
    fn consistent_hash_is_stable_per_key() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b"), ep("c")];
        let refs: Vec<&Endpoint> = eps.iter().collect();
        let lb = LoadBalancer::HashHeader("x-user".into());
        let now = Instant::now();
        let first = c.pick(&refs, &lb, Some("jason"), now).unwrap().pod.clone();
        for _ in 0..10 {
            assert_eq!(c.pick(&refs, &lb, Some("jason"), now).unwrap().pod, first);
        }
    }

    #[test]
    fn consecutive_errors_eject_then_restore() {
        let c = Cluster::new(&TrafficPolicy::default());
        let (a, b) = (ep("a"), ep("b"));
        let policy = OutlierPolicy {
            consecutive_5xx: Some(2),
            consecutive_gateway: None,
            interval: Duration::from_secs(1),
            base_ejection: Duration::from_secs(30),
            max_ejection_percent: 50,
        };
        let t0 = Instant::now();
        for _ in 0..2 {
            c.pick(&[&a], &LoadBalancer::RoundRobin, None, t0);
            c.report("a", Outcome::Status(503), Some(&policy), 2, t0);
        }
        assert!(c.is_ejected("a", t0));
        // The cap (50% of 2) stops a second ejection.
        for _ in 0..2 {
            c.pick(&[&b], &LoadBalancer::RoundRobin, None, t0);
            c.report("b", Outcome::Failed, Some(&policy), 2, t0);
        }
        assert!(!c.is_ejected("b", t0));
        for _ in 0..5 {
            assert_eq!(
                c.pick(&[&a, &b], &LoadBalancer::RoundRobin, None, t0)
                    .unwrap()
                    .pod,
                "b"
            );
        }
        let later = t0 + Duration::from_secs(31);
        assert!(
            c.pick(&[&a], &LoadBalancer::RoundRobin, None, later)
                .is_some()
        );
    }
}
