//! The seed tutorial's five Istio use cases through the north-south gateway,
//! plus header routing: real HTTP to real backends on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn vs(name: &str, host: &str, http: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {{name: {name}}}\nspec:\n  hosts: [\"{host}\"]\n  gateways: [myhero-gateway]\n  http:\n{http}"
    )
}

async fn ui_backends() -> (Backend, Backend, Backend, ferry_core::mesh::ServiceSnapshot) {
    let (v1, v2, v3) = (
        Backend::start("v1").await,
        Backend::start("v2").await,
        Backend::start("v3").await,
    );
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-ui",
        vec![
            v1.endpoint("ui-v1"),
            v2.endpoint("ui-v2"),
            v3.endpoint("ui-v3"),
        ],
    )]);
    (v1, v2, v3, snap)
}

const ALL_TO_V1: &str = "  - route:\n    - destination: {host: myhero-ui, subset: v1}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_case_1_all_traffic_to_v1() {
    let (_v1, _v2, _v3, snap) = ui_backends().await;
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", ALL_TO_V1)
        ),
    )
    .await;
    let c = client();
    for _ in 0..30 {
        assert_eq!(
            get(&c, gw.addr, "ui.myhero.test", "/", &[]).await,
            (200, "v1".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_case_2_delay_on_all_and_on_half() {
    let (_v1, _v2, _v3, snap) = ui_backends().await;
    let http = format!(
        "  - fault:\n      delay: {{percent: 100, fixedDelay: 5s}}\n{}",
        ALL_TO_V1
            .trim_start_matches("  - ")
            .replace("route:", "    route:")
    );
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", &http)
        ),
    )
    .await;
    let c = client();
    let t = Instant::now();
    assert_eq!(
        get(&c, gw.addr, "ui.myhero.test", "/", &[]).await,
        (200, "v1".into())
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(7),
        "100% delay took {took:?}"
    );

    // 50 % with the newer `percentage.value` form, measured over 100 concurrent requests.
    let http = "  - fault:\n      delay: {percentage: {value: 50}, fixedDelay: 5s}\n    route:\n    - destination: {host: myhero-ui, subset: v1}\n";
    gw.gateway
        .apply(objects(&format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", http)
        )))
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (c, addr) = (c.clone(), gw.addr);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = get(&c, addr, "ui.myhero.test", "/", &[]).await;
            (r, t.elapsed())
        }));
    }
    let mut delayed = 0;
    for t in tasks {
        let (r, took) = t.await.unwrap();
        assert_eq!(r, (200, "v1".into()));
        if took >= Duration::from_secs(5) {
            delayed += 1;
        }
    }
    assert!(
        (30..=70).contains(&delayed),
        "{delayed} of 100 delayed at 50%"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_case_3_abort_500_on_all_and_on_30_percent() {
    let app = Backend::start("app").await;
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![app.endpoint("app-1")],
    )]);
    let abort = |pct: &str| {
        vs(
            "myhero-app",
            "app.myhero.test",
            &format!(
                "  - fault:\n      abort: {pct}\n    route:\n    - destination: {{host: myhero-app}}\n"
            ),
        )
    };
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            abort("{percent: 100, httpStatus: 500}")
        ),
    )
    .await;
    let c = client();
    for _ in 0..20 {
        assert_eq!(
            get(&c, gw.addr, "app.myhero.test", "/options", &[]).await.0,
            500
        );
    }
    assert_eq!(app.count(), 0, "aborted requests never reach the backend");

    gw.gateway
        .apply(objects(&format!(
            "{UI_DESTINATION_RULE}{}",
            abort("{percentage: {value: 30}, httpStatus: 500}")
        )))
        .unwrap();
    let mut aborted = 0;
    for _ in 0..1000 {
        match get(&c, gw.addr, "app.myhero.test", "/options", &[]).await {
            (500, _) => aborted += 1,
            (200, body) => assert_eq!(body, "app"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        (250..=350).contains(&aborted),
        "{aborted} of 1000 aborted at 30%"
    );
    assert_eq!(app.count(), 1000 - aborted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_case_4_fifty_percent_to_v3() {
    let (v1, _v2, v3, snap) = ui_backends().await;
    let http = "  - route:\n    - destination: {host: myhero-ui, subset: v1}\n      weight: 50\n    - destination: {host: myhero-ui, subset: v3}\n      weight: 50\n";
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", http)
        ),
    )
    .await;
    let c = client();
    let mut to_v1 = 0;
    for _ in 0..1000 {
        let (status, body) = get(&c, gw.addr, "ui.myhero.test", "/", &[]).await;
        assert_eq!(status, 200);
        match body.as_str() {
            "v1" => to_v1 += 1,
            "v3" => {}
            other => panic!("answer from {other}"),
        }
    }
    assert!(
        (450..=550).contains(&to_v1),
        "{to_v1} of 1000 to v1 at 50/50"
    );
    assert_eq!(v1.count() + v3.count(), 1000);

    // Then all to v3.
    let http = "  - route:\n    - destination: {host: myhero-ui, subset: v3}\n";
    gw.gateway
        .apply(objects(&format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", http)
        )))
        .unwrap();
    for _ in 0..20 {
        assert_eq!(get(&c, gw.addr, "ui.myhero.test", "/", &[]).await.1, "v3");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_case_5_mirror_v1_to_v2() {
    let (v1, v2, _v3, snap) = ui_backends().await;
    let http = "  - route:\n    - destination: {host: myhero-ui, subset: v1}\n      weight: 100\n    mirror: {host: myhero-ui, subset: v2}\n";
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", http)
        ),
    )
    .await;
    let c = client();
    for i in 0..50 {
        assert_eq!(
            get(&c, gw.addr, "ui.myhero.test", &format!("/page/{i}"), &[]).await,
            (200, "v1".into())
        );
    }
    ferry_test_support::poll(
        "v2 to see every mirrored request",
        Duration::from_secs(10),
        || (v2.count() >= 50).then_some(()),
    );
    assert_eq!(v1.count(), 50);
    let seen = v2.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 50);
    assert!(
        seen.iter().all(|s| s.host == "ui.myhero.test-shadow"),
        "shadow hosts: {:?}",
        seen.iter().map(|s| &s.host).collect::<Vec<_>>()
    );
    let mut paths: Vec<_> = seen.iter().map(|s| s.path.clone()).collect();
    paths.sort();
    let mut want: Vec<_> = (0..50).map(|i| format!("/page/{i}")).collect();
    want.sort();
    assert_eq!(paths, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_routing_sends_jason_to_v2() {
    let (_v1, _v2, _v3, snap) = ui_backends().await;
    let http = "  - match:\n    - headers:\n        end-user: {exact: jason}\n    route:\n    - destination: {host: myhero-ui, subset: v2}\n  - route:\n    - destination: {host: myhero-ui, subset: v1}\n";
    let gw = gateway(
        snap,
        &format!(
            "{UI_DESTINATION_RULE}{}",
            vs("myhero-ui", "ui.myhero.test", http)
        ),
    )
    .await;
    let c = client();
    for _ in 0..10 {
        assert_eq!(
            get(&c, gw.addr, "ui.myhero.test", "/", &[("end-user", "jason")])
                .await
                .1,
            "v2"
        );
        assert_eq!(
            get(&c, gw.addr, "ui.myhero.test", "/", &[("end-user", "mary")])
                .await
                .1,
            "v1"
        );
        assert_eq!(get(&c, gw.addr, "ui.myhero.test", "/", &[]).await.1, "v1");
    }
}
