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
    /// True unless `e` is ejected at `now`; restores it if its ejection is
    /// over.
    fn check(&mut self, e: &Endpoint, now: Instant) -> bool {
        if self.ejected == 0 {
            return true;
        }
        // No state yet: never ejected.
        let Some(s) = self.by_pod.get_mut(&e.pod) else {
            return true;
        };
        match s.ejected_until {
            Some(t) if t > now => false,
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
    /// key when the policy has one. One pass over the endpoints collects
    /// the eligible ones' positions (on the stack for up to 16; allocating
    /// nothing else but the first state of an endpoint).
    pub fn pick<'e>(
        &self,
        endpoints: &'e [Endpoint],
        candidate: impl Fn(&Endpoint) -> bool,
        lb: &LoadBalancer,
        hash: Option<&str>,
        now: Instant,
    ) -> Option<Picked<'e>> {
        let mut states = self.endpoints.lock().expect("lb lock");
        let (mut small, mut large) = ([0usize; 16], Vec::new());
        let (mut candidates, mut healthy) = (0, 0);
        for (i, e) in endpoints.iter().enumerate() {
            if !candidate(e) {
                continue;
            }
            candidates += 1;
            if !states.check(e, now) {
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
    /// report ejected it.
    pub fn report(
        &self,
        pod: &str,
        outcome: Outcome,
        policy: Option<&OutlierPolicy>,
        total: usize,
        now: Instant,
    ) -> bool {
        let mut guard = self.endpoints.lock().expect("lb lock");
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
        if !tripped || s.ejected_until.is_some_and(|t| t > now) {
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
        if let Some(s) = self.endpoints.lock().expect("lb lock").by_pod.get_mut(pod) {
            s.active = s.active.saturating_sub(1);
        }
    }

    /// True when `pod` is ejected at `now`.
    pub fn is_ejected(&self, pod: &str, now: Instant) -> bool {
        self.endpoints
            .lock()
            .expect("lb lock")
            .by_pod
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

    fn all(_: &Endpoint) -> bool {
        true
    }

    fn policy(consecutive_5xx: u32, max_ejection_percent: u32) -> OutlierPolicy {
        OutlierPolicy {
            consecutive_5xx: Some(consecutive_5xx),
            consecutive_gateway: None,
            interval: Duration::from_secs(1),
            base_ejection: Duration::from_secs(30),
            max_ejection_percent,
        }
    }

    /// Fails `pod` until it is ejected at `now`.
    fn eject(c: &Cluster, eps: &[Endpoint], pod: &str, p: &OutlierPolicy, now: Instant) {
        for _ in 0..p.consecutive_5xx.unwrap() {
            let picked = c.pick(eps, |e| e.pod == pod, &LoadBalancer::RoundRobin, None, now);
            assert_eq!(picked.unwrap().endpoint.pod, pod);
            c.report(pod, Outcome::Status(503), Some(p), eps.len(), now);
        }
        assert!(c.is_ejected(pod, now));
    }

    #[test]
    fn round_robin_cycles() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b")];
        let now = Instant::now();
        let picks: Vec<_> = (0..4)
            .map(|_| {
                let p = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, now);
                let p = p.unwrap();
                assert_eq!(p.candidates, 2);
                (p.index, p.endpoint.pod.clone())
            })
            .collect();
        let expected = [(0, "a"), (1, "b"), (0, "a"), (1, "b")];
        assert_eq!(picks, expected.map(|(i, p)| (i, p.to_string())));
    }

    #[test]
    fn only_candidates_are_picked_and_indexed_in_the_whole_slice() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b"), ep("c"), ep("d")];
        let odd = |e: &Endpoint| e.pod == "b" || e.pod == "d";
        let now = Instant::now();
        for lb in [
            LoadBalancer::RoundRobin,
            LoadBalancer::Random,
            LoadBalancer::LeastRequest,
        ] {
            for _ in 0..20 {
                let p = c.pick(&eps, odd, &lb, None, now).unwrap();
                assert!(odd(p.endpoint), "{lb:?} picked {}", p.endpoint.pod);
                assert!(std::ptr::eq(&eps[p.index], p.endpoint));
                assert_eq!(p.candidates, 2);
            }
        }
        assert!(
            c.pick(&eps, |_| false, &LoadBalancer::RoundRobin, None, now)
                .is_none()
        );
    }

    #[test]
    fn more_endpoints_than_the_stack_holds_are_all_picked() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps: Vec<Endpoint> = (0..40).map(|i| ep(&format!("p{i}"))).collect();
        // Every other endpoint is a candidate: 20 of them, more than 16.
        let even = |e: &Endpoint| e.pod[1..].parse::<usize>().unwrap() % 2 == 0;
        let now = Instant::now();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let p = c
                .pick(&eps, even, &LoadBalancer::RoundRobin, None, now)
                .unwrap();
            assert!(even(p.endpoint));
            assert!(std::ptr::eq(&eps[p.index], p.endpoint));
            assert_eq!(p.candidates, 20);
            seen.insert(p.index);
        }
        assert_eq!(seen.len(), 20, "round robin visits each candidate once");
        let key = Some("user-42");
        let lb = LoadBalancer::HashHeader("x-user".into());
        let first = c.pick(&eps, even, &lb, key, now).unwrap().index;
        for _ in 0..5 {
            assert_eq!(c.pick(&eps, even, &lb, key, now).unwrap().index, first);
        }
    }

    #[test]
    fn least_request_prefers_the_less_busy_endpoint() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b")];
        let now = Instant::now();
        // Ten requests in flight on "a".
        for _ in 0..10 {
            c.pick(&eps, |e| e.pod == "a", &LoadBalancer::RoundRobin, None, now);
        }
        // Both choices land on "a" a quarter of the time; else "b" wins.
        let to_b = (0..400)
            .filter(|_| {
                let p = c.pick(&eps, all, &LoadBalancer::LeastRequest, None, now);
                let pod = &p.unwrap().endpoint.pod;
                c.release(pod);
                pod == "b"
            })
            .count();
        assert!(to_b > 250, "{to_b} of 400 to the idle endpoint");
    }

    #[test]
    fn consistent_hash_is_stable_per_key() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b"), ep("c")];
        let lb = LoadBalancer::HashHeader("x-user".into());
        let now = Instant::now();
        let first = c.pick(&eps, all, &lb, Some("jason"), now).unwrap();
        for _ in 0..10 {
            let p = c.pick(&eps, all, &lb, Some("jason"), now).unwrap();
            assert_eq!(p.endpoint.pod, first.endpoint.pod);
        }
        // The same endpoint as before picking stopped allocating: the
        // highest SipHash weight (so no key moved).
        let heaviest = eps.iter().max_by_key(|e| rendezvous("jason", &e.pod));
        assert_eq!(first.endpoint.pod, heaviest.unwrap().pod);
    }

    #[test]
    fn consistent_hash_moves_off_an_ejected_endpoint_and_back() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b"), ep("c")];
        let lb = LoadBalancer::HashHeader("x-user".into());
        let t0 = Instant::now();
        let home = c
            .pick(&eps, all, &lb, Some("k"), t0)
            .unwrap()
            .endpoint
            .pod
            .clone();
        eject(&c, &eps, &home, &policy(1, 100), t0);
        let away = c.pick(&eps, all, &lb, Some("k"), t0).unwrap();
        assert_ne!(away.endpoint.pod, home);
        assert_eq!(away.candidates, 3, "ejected candidates still count");
        let later = t0 + Duration::from_secs(31);
        let back = c.pick(&eps, all, &lb, Some("k"), later).unwrap();
        assert_eq!(back.endpoint.pod, home);
    }

    #[test]
    fn restoring_the_last_ejected_endpoint_clears_the_ejected_count() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b"), ep("c")];
        let p = policy(1, 100);
        let t0 = Instant::now();
        eject(&c, &eps, "a", &p, t0);
        // Ejected again once its ejection is over, before a pick restored
        // it: still one ejected endpoint, for longer.
        let t1 = t0 + Duration::from_secs(31);
        assert!(c.report("a", Outcome::Status(503), Some(&p), 3, t1));
        assert_eq!(c.endpoints.lock().unwrap().ejected, 1);
        eject(&c, &eps, "b", &p, t1);
        assert_eq!(c.endpoints.lock().unwrap().ejected, 2);
        for _ in 0..4 {
            let picked = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, t1);
            assert_eq!(picked.unwrap().endpoint.pod, "c");
        }
        // "b" (30 s) is restored before "a" (60 s, ejected twice).
        let t2 = t1 + Duration::from_secs(31);
        let pods: Vec<_> = (0..4)
            .map(|_| c.pick(&eps, all, &LoadBalancer::RoundRobin, None, t2))
            .map(|p| p.unwrap().endpoint.pod.clone())
            .collect();
        assert!(pods.contains(&"b".to_string()) && !pods.contains(&"a".to_string()));
        assert_eq!(c.endpoints.lock().unwrap().ejected, 1);
        let t3 = t1 + Duration::from_secs(61);
        c.pick(&eps, all, &LoadBalancer::RoundRobin, None, t3);
        assert_eq!(c.endpoints.lock().unwrap().ejected, 0);
        assert!(!c.is_ejected("a", t3));
    }

    #[test]
    fn consecutive_errors_eject_then_restore() {
        let c = Cluster::new(&TrafficPolicy::default());
        let eps = [ep("a"), ep("b")];
        let (only_a, only_b) = (|e: &Endpoint| e.pod == "a", |e: &Endpoint| e.pod == "b");
        let policy = policy(2, 50);
        let t0 = Instant::now();
        for _ in 0..2 {
            c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, t0);
            c.report("a", Outcome::Status(503), Some(&policy), 2, t0);
        }
        assert!(c.is_ejected("a", t0));
        // The cap (50% of 2) stops a second ejection.
        for _ in 0..2 {
            c.pick(&eps, only_b, &LoadBalancer::RoundRobin, None, t0);
            c.report("b", Outcome::Failed, Some(&policy), 2, t0);
        }
        assert!(!c.is_ejected("b", t0));
        for _ in 0..5 {
            let p = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, t0);
            assert_eq!(p.unwrap().endpoint.pod, "b");
        }
        assert!(
            c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, t0)
                .is_none()
        );
        let later = t0 + Duration::from_secs(31);
        assert!(
            c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, later)
                .is_some()
        );
    }
}
