//! DestinationRule `connectionPool` limits against a slow backend: with one
//! connection and one pending request allowed, a third concurrent request
//! overflows (503, Envoy's wording); after the rule is re-applied with more
//! room, the same burst is served whole.

mod common;

use std::sync::atomic::Ordering;

use common::*;

const VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: app}\nspec:\n  hosts: [app.myhero.test]\n  gateways: [myhero-gateway]\n  http:\n  - route:\n    - destination: {host: myhero-app}\n    retries: {attempts: 0}\n";

fn rule(max_connections: u32) -> String {
    format!(
        "{UI_DESTINATION_RULE}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: app}}\nspec:\n  host: myhero-app\n  trafficPolicy:\n    connectionPool:\n      tcp: {{maxConnections: {max_connections}}}\n      http: {{http1MaxPendingRequests: 1}}\n---\n{VS}"
    )
}

/// Three requests at once; their statuses and bodies, sorted.
async fn burst(gw: &Running) -> Vec<(u16, String)> {
    let c = client();
    let one = || get(&c, gw.addr, "app.myhero.test", "/", &[]);
    let (a, b, d) = tokio::join!(one(), one(), one());
    let mut all = vec![a, b, d];
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_pool_limits_overflow_and_follow_a_new_rule() {
    let app = Backend::start("app").await;
    // Long enough for the three requests of a burst to meet in flight.
    app.delay_ms.store(400, Ordering::SeqCst);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![app.endpoint("app-1")],
    )]);
    let gw = gateway(snap, &rule(1)).await;

    let got = burst(&gw).await;
    assert_eq!(got[0], (200, "app".to_string()), "{got:?}");
    assert_eq!(got[1], (200, "app".to_string()), "{got:?}");
    assert_eq!(
        got[2].0, 503,
        "one in flight, one pending, one over: {got:?}"
    );
    assert!(got[2].1.contains("overflow"), "{got:?}");

    gw.gateway.apply(objects(&rule(3))).unwrap();
    let got = burst(&gw).await;
    assert!(
        got.iter().all(|r| *r == (200, "app".to_string())),
        "the new limit applies: {got:?}"
    );
}
