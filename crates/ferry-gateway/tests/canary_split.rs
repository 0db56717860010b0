//! Canary splits through the running gateway over real HTTP: a Service's
//! stable and canary pods share its traffic at the split's weight, a
//! weight change holds for the very next request (one table swap), the
//! counters count each side's answers and 5xx, and removing the split
//! sends everything to the stable pods again. Prints the swap's latency.
//! A split's routes, on north and mesh traffic (a Service without rules of
//! its own): tagged calls reach the canary, mirrored copies reach it and
//! are counted apart (their 5xx too) while callers get stable's answers,
//! and a canary fault delays only the canary pods' own calls.

mod common;

use std::time::{Duration, Instant};

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

fn parse<T: serde::de::DeserializeOwned>(y: &str) -> T {
    let doc = ferry_core::yaml::parse_documents("t.yaml", y).unwrap();
    serde_json::from_value(doc[0].value.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_splits_routes_hold_for_north_and_mesh_calls() {
    let (stable, canary, db) = (
        Backend::start("v1").await,
        Backend::start("v2").await,
        Backend::start("db").await,
    );
    let mut canary_pod = canary.endpoint("web-canary-1");
    canary_pod.labels.insert(CANARY_LABEL.into(), "web".into());
    let snap = snapshot(vec![
        service("myhero", "web", vec![stable.endpoint("web-1"), canary_pod]),
        service("myhero", "db", vec![db.endpoint("db-1")]),
    ]);
    let gw = gateway(snap, INGRESS).await;
    let key = ServiceKey {
        namespace: "myhero".into(),
        name: "web".into(),
    };
    let header = "[{name: t, match: [{headerName: x-t, headerValue: {prefix: ye}}]}]";
    let mut split = Split {
        deployment: "web".into(),
        header_routes: parse(header),
        ..Default::default()
    };
    gw.gateway.set_split(&key, Some(split.clone()));
    let c = client();
    let mesh = service_address(&gw.gateway, "web", &[("app", "client")]).await;
    for addr in [gw.addr, mesh] {
        for _ in 0..10 {
            let tagged = get(&c, addr, "web.test", "/", &[("x-t", "yes")]).await;
            assert_eq!(tagged, (200, "v2".into()), "via {addr}");
            assert_eq!(
                get(&c, addr, "web.test", "/", &[]).await,
                (200, "v1".into())
            );
        }
    }

    // Mirror every request: callers see stable; the canary sees copies.
    split.mirror_routes = parse("[{name: m, percentage: 100}]");
    gw.gateway.set_split(&key, Some(split.clone()));
    let before = canary.count();
    for addr in [gw.addr, mesh] {
        for _ in 0..10 {
            assert_eq!(
                get(&c, addr, "web.test", "/", &[]).await,
                (200, "v1".into())
            );
        }
    }
    let mirrored = || gw.gateway.stats(&key).unwrap().mirror;
    let deadline = Instant::now() + Duration::from_secs(5);
    while mirrored().requests < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((mirrored().requests, canary.count() - before), (20, 20));
    assert_eq!(
        gw.gateway.stats(&key).unwrap().canary.requests,
        20,
        "the tagged calls only"
    );
    canary
        .fail_all
        .store(1, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(
            get(&c, gw.addr, "web.test", "/", &[]).await,
            (200, "v1".into())
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while mirrored().errors < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((mirrored().requests, mirrored().errors), (25, 5));

    // A fault delays the canary pods' calls to db, not the others'.
    split.canary_delay = Some((Duration::from_millis(300), 100));
    gw.gateway.set_split(&key, Some(split));
    let from_canary = service_address(&gw.gateway, "db", &[(CANARY_LABEL, "web")]).await;
    let from_stable = service_address(&gw.gateway, "db", &[("app", "web")]).await;
    let t = Instant::now();
    assert_eq!(
        get(&c, from_canary, "db", "/", &[]).await,
        (200, "db".into())
    );
    let slow = t.elapsed();
    let t = Instant::now();
    assert_eq!(
        get(&c, from_stable, "db", "/", &[]).await,
        (200, "db".into())
    );
    let fast = t.elapsed();
    println!("canary's call to db {slow:?}, stable's {fast:?}");
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    assert!(fast < Duration::from_millis(300), "{fast:?}");
}
