//! The seed's own manifests (examples/myhero/k8s): the tutorial's Ingress
//! plus its Istio files, which bind to no gateway (mesh rules). Traffic
//! entering through the Ingress reaches myhero-ui/myhero-app under those
//! rules, as it does behind an ingress controller inside an Istio mesh.

mod common;

use std::time::{Duration, Instant};

use common::*;

const K8S: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/myhero/k8s");

fn file(name: &str) -> String {
    std::fs::read_to_string(format!("{K8S}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn with(vs: &[&str]) -> Vec<std::sync::Arc<ferry_core::objects::StoredObject>> {
    let mut yaml = format!(
        "{}\n---\n{}",
        file("myhero-ingress.yml"),
        file("istio/1-ui_destinationrule.yml")
    );
    for f in vs {
        yaml.push_str("\n---\n");
        yaml.push_str(&file(&format!("istio/{f}")));
    }
    objects(&yaml)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_manifests_drive_ingress_traffic() {
    let (v1, v2, v3, app) = (
        Backend::start("v1").await,
        Backend::start("v2").await,
        Backend::start("v3").await,
        Backend::start("app").await,
    );
    let snap = snapshot(vec![
        service(
            "myhero",
            "myhero-ui",
            vec![
                v1.endpoint("ui-v1"),
                v2.endpoint("ui-v2"),
                v3.endpoint("ui-v3"),
            ],
        ),
        service("myhero", "myhero-app", vec![app.endpoint("app-1")]),
    ]);
    let gw = gateway(snap, "").await;
    let c = client();
    let ui = "myhero-ui.myhero.local";

    // Before any VirtualService the Ingress spreads over every version.
    gw.gateway.apply(with(&[])).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        seen.insert(get(&c, gw.addr, ui, "/", &[]).await.1);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");

    // 1: all to v1.
    gw.gateway.apply(with(&["1-ui_all_to_v1.yml"])).unwrap();
    for _ in 0..20 {
        assert_eq!(get(&c, gw.addr, ui, "/", &[]).await.1, "v1");
    }
    // 2: 5 s delay.
    gw.gateway.apply(with(&["2-ui_inject_delay.yml"])).unwrap();
    let t = Instant::now();
    assert_eq!(get(&c, gw.addr, ui, "/", &[]).await.1, "v1");
    assert!(t.elapsed() >= Duration::from_secs(5));
    // 3: abort on myhero-app (its Ingress host), UI unaffected.
    gw.gateway
        .apply(with(&["1-ui_all_to_v1.yml", "3-app_HTTP_abort.yml"]))
        .unwrap();
    assert_eq!(
        get(&c, gw.addr, "myhero-app.myhero.local", "/options", &[])
            .await
            .0,
        500
    );
    assert_eq!(get(&c, gw.addr, ui, "/", &[]).await.1, "v1");
    // 4: 50 % to v3, then all to v3.
    gw.gateway.apply(with(&["4-ui_50_to_v3.yml"])).unwrap();
    let mut v3n = 0;
    for _ in 0..400 {
        if get(&c, gw.addr, ui, "/", &[]).await.1 == "v3" {
            v3n += 1;
        }
    }
    assert!((160..=240).contains(&v3n), "{v3n} of 400 to v3");
    gw.gateway.apply(with(&["5-ui_all_to_v3.yml"])).unwrap();
    assert_eq!(get(&c, gw.addr, ui, "/", &[]).await.1, "v3");
    // 5: mirror v1 → v2.
    gw.gateway
        .apply(with(&["6-ui_v1_mirror_to_v2.yml"]))
        .unwrap();
    let before = v2.count();
    for _ in 0..20 {
        assert_eq!(get(&c, gw.addr, ui, "/", &[]).await.1, "v1");
    }
    ferry_test_support::poll(
        "v2 sees the mirrored requests",
        Duration::from_secs(5),
        || (v2.count() == before + 20).then_some(()),
    );
    assert!(
        v2.seen.lock().unwrap()[before..]
            .iter()
            .all(|s| s.host == format!("{ui}-shadow"))
    );
}
