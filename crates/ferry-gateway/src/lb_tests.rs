//! Endpoint choice and outlier detection: round robin, candidates,
//! least request, consistent hashing, ejection and restoration.

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
        let picked = c.pick(
            eps,
            |e| e.pod == pod,
            &LoadBalancer::RoundRobin,
            None,
            || now,
        );
        assert_eq!(picked.unwrap().endpoint.pod, pod);
        c.report(pod, Outcome::Status(503), Some(p), eps.len(), || now);
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
            let p = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, || now);
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
            let p = c.pick(&eps, odd, &lb, None, || now).unwrap();
            assert!(odd(p.endpoint), "{lb:?} picked {}", p.endpoint.pod);
            assert!(std::ptr::eq(&eps[p.index], p.endpoint));
            assert_eq!(p.candidates, 2);
        }
    }
    assert!(
        c.pick(&eps, |_| false, &LoadBalancer::RoundRobin, None, || now)
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
            .pick(&eps, even, &LoadBalancer::RoundRobin, None, || now)
            .unwrap();
        assert!(even(p.endpoint));
        assert!(std::ptr::eq(&eps[p.index], p.endpoint));
        assert_eq!(p.candidates, 20);
        seen.insert(p.index);
    }
    assert_eq!(seen.len(), 20, "round robin visits each candidate once");
    let key = Some("user-42");
    let lb = LoadBalancer::HashHeader("x-user".into());
    let first = c.pick(&eps, even, &lb, key, || now).unwrap().index;
    for _ in 0..5 {
        assert_eq!(c.pick(&eps, even, &lb, key, || now).unwrap().index, first);
    }
}

#[test]
fn least_request_prefers_the_less_busy_endpoint() {
    let c = Cluster::new(&TrafficPolicy::default());
    let eps = [ep("a"), ep("b")];
    let now = Instant::now();
    // Ten requests in flight on "a".
    for _ in 0..10 {
        c.pick(
            &eps,
            |e| e.pod == "a",
            &LoadBalancer::RoundRobin,
            None,
            || now,
        );
    }
    // Both choices land on "a" a quarter of the time; else "b" wins.
    let to_b = (0..400)
        .filter(|_| {
            let p = c.pick(&eps, all, &LoadBalancer::LeastRequest, None, || now);
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
    let first = c.pick(&eps, all, &lb, Some("jason"), || now).unwrap();
    for _ in 0..10 {
        let p = c.pick(&eps, all, &lb, Some("jason"), || now).unwrap();
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
        .pick(&eps, all, &lb, Some("k"), || t0)
        .unwrap()
        .endpoint
        .pod
        .clone();
    eject(&c, &eps, &home, &policy(1, 100), t0);
    let away = c.pick(&eps, all, &lb, Some("k"), || t0).unwrap();
    assert_ne!(away.endpoint.pod, home);
    assert_eq!(away.candidates, 3, "ejected candidates still count");
    let later = t0 + Duration::from_secs(31);
    let back = c.pick(&eps, all, &lb, Some("k"), || later).unwrap();
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
    assert!(c.report("a", Outcome::Status(503), Some(&p), 3, || t1));
    assert_eq!(c.endpoints.lock().unwrap().ejected, 1);
    eject(&c, &eps, "b", &p, t1);
    assert_eq!(c.endpoints.lock().unwrap().ejected, 2);
    for _ in 0..4 {
        let picked = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, || t1);
        assert_eq!(picked.unwrap().endpoint.pod, "c");
    }
    // "b" (30 s) is restored before "a" (60 s, ejected twice).
    let t2 = t1 + Duration::from_secs(31);
    let pods: Vec<_> = (0..4)
        .map(|_| c.pick(&eps, all, &LoadBalancer::RoundRobin, None, || t2))
        .map(|p| p.unwrap().endpoint.pod.clone())
        .collect();
    assert!(pods.contains(&"b".to_string()) && !pods.contains(&"a".to_string()));
    assert_eq!(c.endpoints.lock().unwrap().ejected, 1);
    let t3 = t1 + Duration::from_secs(61);
    c.pick(&eps, all, &LoadBalancer::RoundRobin, None, || t3);
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
        c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, || t0);
        c.report("a", Outcome::Status(503), Some(&policy), 2, || t0);
    }
    assert!(c.is_ejected("a", t0));
    // The cap (50% of 2) stops a second ejection.
    for _ in 0..2 {
        c.pick(&eps, only_b, &LoadBalancer::RoundRobin, None, || t0);
        c.report("b", Outcome::Failed, Some(&policy), 2, || t0);
    }
    assert!(!c.is_ejected("b", t0));
    for _ in 0..5 {
        let p = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, || t0);
        assert_eq!(p.unwrap().endpoint.pod, "b");
    }
    assert!(
        c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, || t0)
            .is_none()
    );
    let later = t0 + Duration::from_secs(31);
    assert!(
        c.pick(&eps, only_a, &LoadBalancer::RoundRobin, None, || later)
            .is_some()
    );
}

#[test]
fn the_clock_is_read_only_when_an_ejection_needs_it() {
    let c = Cluster::new(&TrafficPolicy::default());
    let eps = [ep("a"), ep("b"), ep("c")];
    let p = policy(2, 100);
    let unread = || -> Instant { panic!("clock read") };
    // Nothing ejected: picking, a success and a first failure need no time.
    let picked = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, unread);
    let pod = picked.unwrap().endpoint.pod.clone();
    assert!(!c.report(&pod, Outcome::Status(200), Some(&p), 3, unread));
    c.pick(
        &eps,
        |e| e.pod == "a",
        &LoadBalancer::RoundRobin,
        None,
        unread,
    );
    assert!(!c.report("a", Outcome::Status(503), Some(&p), 3, unread));
    // The second failure trips the policy: now the time is asked, once.
    let reads = std::cell::Cell::new(0);
    let t0 = Instant::now();
    let counted = || {
        reads.set(reads.get() + 1);
        t0
    };
    c.pick(
        &eps,
        |e| e.pod == "a",
        &LoadBalancer::RoundRobin,
        None,
        counted,
    );
    assert_eq!(reads.get(), 0);
    assert!(c.report("a", Outcome::Status(503), Some(&p), 3, counted));
    assert_eq!(reads.get(), 1);
    // With two endpoints ejected, a pick over all of them asks once.
    eject(&c, &eps, "b", &p, t0);
    let before = reads.get();
    let left = c.pick(&eps, all, &LoadBalancer::RoundRobin, None, counted);
    assert_eq!(left.unwrap().endpoint.pod, "c");
    assert_eq!(reads.get(), before + 1);
}
