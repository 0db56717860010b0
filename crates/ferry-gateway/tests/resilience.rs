//! Retries, per-try timeouts and outlier detection against real backends.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;

fn app_vs(http_extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {{name: myhero-app}}\nspec:\n  hosts: [app.myhero.test]\n  gateways: [myhero-gateway]\n  http:\n  - route:\n    - destination: {{host: myhero-app}}\n{http_extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_turn_intermittent_503_into_success() {
    let app = Backend::start("app").await;
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![app.endpoint("app-1")],
    )]);
    let no_retries = app_vs("    retries: {attempts: 0}\n");
    let gw = gateway(snap, &format!("{UI_DESTINATION_RULE}---\n{no_retries}")).await;
    let c = client();
    app.fail_first.store(1, Ordering::SeqCst);
    assert_eq!(
        get(&c, gw.addr, "app.myhero.test", "/", &[]).await.0,
        503,
        "without retries the 503 shows"
    );

    let retries = app_vs("    retries: {attempts: 3, retryOn: \"5xx\"}\n");
    gw.gateway
        .apply(objects(&format!("{UI_DESTINATION_RULE}---\n{retries}")))
        .unwrap();
    for _ in 0..5 {
        app.fail_first.store(2, Ordering::SeqCst);
        let before = app.count();
        assert_eq!(
            get(&c, gw.addr, "app.myhero.test", "/", &[]).await,
            (200, "app".into())
        );
        assert_eq!(app.count() - before, 3, "two failed tries and one success");
    }

    // retryOn naming the status code works too; other codes are not retried.
    let codes = app_vs("    retries: {attempts: 2, retryOn: \"gateway-error,503\"}\n");
    gw.gateway
        .apply(objects(&format!("{UI_DESTINATION_RULE}---\n{codes}")))
        .unwrap();
    app.fail_first.store(1, Ordering::SeqCst);
    assert_eq!(get(&c, gw.addr, "app.myhero.test", "/", &[]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_try_timeout_fires_and_retries() {
    let app = Backend::start("app").await;
    app.delay_ms.store(3000, Ordering::SeqCst);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![app.endpoint("app-1")],
    )]);
    let vs = app_vs(
        "    timeout: 10s\n    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: \"5xx\"}\n",
    );
    let gw = gateway(snap, &format!("{UI_DESTINATION_RULE}---\n{vs}")).await;
    let c = client();
    let t = Instant::now();
    let (status, body) = get(&c, gw.addr, "app.myhero.test", "/", &[]).await;
    assert_eq!((status, body.as_str()), (504, "upstream request timeout"));
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "per-try timeouts cut it short: {:?}",
        t.elapsed()
    );
    assert_eq!(app.count(), 3, "first try and two retries");

    // The route timeout caps everything.
    let vs = app_vs("    timeout: 300ms\n    retries: {attempts: 0}\n");
    gw.gateway
        .apply(objects(&format!("{UI_DESTINATION_RULE}---\n{vs}")))
        .unwrap();
    let t = Instant::now();
    assert_eq!(get(&c, gw.addr, "app.myhero.test", "/", &[]).await.0, 504);
    assert!(t.elapsed() < Duration::from_millis(2500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_and_restores() {
    let (bad, good) = (Backend::start("bad").await, Backend::start("good").await);
    bad.fail_all.store(1, Ordering::SeqCst);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![bad.endpoint("app-bad"), good.endpoint("app-good")],
    )]);
    let yaml = format!(
        "{UI_DESTINATION_RULE}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: app}}\nspec:\n  host: myhero-app\n  trafficPolicy:\n    loadBalancer: {{simple: ROUND_ROBIN}}\n    outlierDetection: {{consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 2s, maxEjectionPercent: 100}}\n---\n{}",
        app_vs("    retries: {attempts: 0}\n")
    );
    let gw = gateway(snap, &yaml).await;
    let c = client();
    let mut failures = 0;
    for _ in 0..30 {
        if get(&c, gw.addr, "app.myhero.test", "/", &[]).await.0 == 503 {
            failures += 1;
        }
    }
    assert_eq!(failures, 3, "ejected after three consecutive 5xx");
    assert_eq!(bad.count(), 3);
    bad.fail_all.store(0, Ordering::SeqCst);
    // After baseEjectionTime the endpoint is back in rotation.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(get(&c, gw.addr, "app.myhero.test", "/", &[]).await.0, 200);
        if bad.count() > 3 {
            break;
        }
        assert!(Instant::now() < deadline, "endpoint never restored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = {
        let mut reg = prometheus_client::registry::Registry::default();
        gw.gateway.metrics().register(&mut reg);
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &reg).unwrap();
        s
    };
    assert!(text.contains("gateway_outlier_ejections_total 1"), "{text}");
}
