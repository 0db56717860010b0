//! Canary splits through the running gateway over real HTTP: a Service's
//! stable and canary pods share its traffic at the split's weight, a
//! weight change holds for the very next request (one table swap), the
//! counters count each side's answers and 5xx, and removing the split
//! sends everything to the stable pods again. Prints the swap's latency.

mod common;

use std::time::Instant;

use common::*;
use ferry_core::mesh::ServiceKey;
use ferry_core::traffic::{CANARY_LABEL, Split, TrafficSplits};

const INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - host: web.test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n";

async fn versions(gw: &Running, n: usize) -> (usize, usize) {
    let c = client();
    let mut canary = 0;
    for _ in 0..n {
        let (status, body) = get(&c, gw.addr, "web.test", "/", &[]).await;
        assert_eq!(status, 200);
        if body == "v2" {
            canary += 1;
        }
    }
    (n - canary, canary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_shares_a_services_traffic_by_weight_and_counts_each_side() {
    let (stable, canary) = (Backend::start("v1").await, Backend::start("v2").await);
    let mut canary_pod = canary.endpoint("web-canary-1");
    canary_pod.labels.insert(CANARY_LABEL.into(), "web".into());
    let snap = snapshot(vec![service(
        "myhero",
        "web",
        vec![stable.endpoint("web-1"), canary_pod],
    )]);
    let gw = gateway(snap, INGRESS).await;
    let key = ServiceKey {
        namespace: "myhero".into(),
        name: "web".into(),
    };
    let split = |w| {
        Some(Split {
            deployment: "web".into(),
            canary_weight: w,
            ..Default::default()
        })
    };
    gw.gateway.set_split(&key, split(0));
    assert_eq!(versions(&gw, 20).await, (20, 0));

    let t = Instant::now();
    gw.gateway.set_split(&key, split(100));
    let swap = t.elapsed();
    assert_eq!(versions(&gw, 20).await, (0, 20), "the next request already");
    println!(
        "weight change to effect: {swap:?} (set_split returning; the next request follows it)"
    );

    gw.gateway.set_split(&key, split(25));
    let (_, to_canary) = versions(&gw, 400).await;
    assert!(
        (60..=140).contains(&to_canary),
        "{to_canary} of 400 at 25 %"
    );

    let stats = gw.gateway.stats(&key).unwrap();
    assert_eq!(stats.canary.requests, 20 + to_canary as u64);
    assert_eq!(stats.stable.requests, 20 + 400 - to_canary as u64);
    assert_eq!(stats.canary.errors, 0);
    assert_eq!(
        stats.canary.latency.iter().sum::<u64>(),
        stats.canary.requests
    );

    // Without a split the Service balances over both pods again (the
    // canary label means nothing to it).
    gw.gateway.set_split(&key, None);
    assert_eq!(versions(&gw, 40).await, (20, 20));
}
