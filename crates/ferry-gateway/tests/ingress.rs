//! Kubernetes Ingress name-based virtual hosting (the tutorial's three
//! hosts), path precedence, and Gateway API HTTPRoute weights and matches.

mod common;

use common::*;

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: myhero-ingress}
spec:
  ingressClassName: nginx
  rules:
  - host: app.myhero.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: myhero-app, port: {number: 80}}}
  - host: spark.myhero.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: myhero-spark, port: {number: 80}}}
  - host: ui.myhero.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: myhero-ui, port: {number: 80}}}
      - path: /api
        pathType: Prefix
        backend: {service: {name: myhero-app, port: {number: 80}}}
      - path: /api/exact
        pathType: Exact
        backend: {service: {name: myhero-spark, port: {number: 80}}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_routes_three_hosts_by_name() {
    let (app, spark, ui) = (
        Backend::start("app").await,
        Backend::start("spark").await,
        Backend::start("ui").await,
    );
    let snap = snapshot(vec![
        service("myhero", "myhero-app", vec![app.endpoint("app-1")]),
        service("myhero", "myhero-spark", vec![spark.endpoint("spark-1")]),
        service("myhero", "myhero-ui", vec![ui.endpoint("ui-1")]),
    ]);
    let gw = gateway(snap, INGRESS).await;
    let c = client();
    assert_eq!(
        get(&c, gw.addr, "app.myhero.test", "/options", &[]).await,
        (200, "app".into())
    );
    assert_eq!(
        get(&c, gw.addr, "spark.myhero.test:8080", "/", &[]).await,
        (200, "spark".into())
    );
    assert_eq!(
        get(&c, gw.addr, "UI.myhero.test", "/", &[]).await,
        (200, "ui".into())
    );
    // Longest prefix wins, element-wise; Exact beats Prefix.
    assert_eq!(
        get(&c, gw.addr, "ui.myhero.test", "/api/votes", &[])
            .await
            .1,
        "app"
    );
    assert_eq!(
        get(&c, gw.addr, "ui.myhero.test", "/apix", &[]).await.1,
        "ui"
    );
    assert_eq!(
        get(&c, gw.addr, "ui.myhero.test", "/api/exact", &[])
            .await
            .1,
        "spark"
    );
    assert_eq!(
        get(&c, gw.addr, "ui.myhero.test", "/api/exact/more", &[])
            .await
            .1,
        "app"
    );
    assert_eq!(get(&c, gw.addr, "other.test", "/", &[]).await.0, 404);
    let seen = app.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.host, "app.myhero.test", "the original Host is kept");
    assert_eq!(
        seen.headers.get("x-forwarded-for").map(String::as_str),
        Some("127.0.0.1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_route_weights_matches_and_filters() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let snap = snapshot(vec![
        service("myhero", "ui-v1", vec![v1.endpoint("v1")]),
        service("myhero", "ui-v2", vec![v2.endpoint("v2")]),
    ]);
    let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: ferry
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ui}
spec:
  parentRefs: [{name: web}]
  hostnames: [ui.example.test]
  rules:
  - backendRefs:
    - {name: ui-v1, port: 80, weight: 90}
    - {name: ui-v2, port: 80, weight: 10}
  - matches:
    - headers: [{name: env, value: canary}]
    backendRefs: [{name: ui-v2, port: 80}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-canary, value: "yes"}]}
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /v2api}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /api}}
    backendRefs: [{name: ui-v2, port: 80}]
"#;
    let gw = gateway(snap, yaml).await;
    let c = client();
    // The header match is more specific than the catch-all, whatever the rule order.
    for _ in 0..10 {
        assert_eq!(
            get(&c, gw.addr, "ui.example.test", "/", &[("env", "canary")])
                .await
                .1,
            "v2"
        );
    }
    assert_eq!(
        v2.seen.lock().unwrap()[0]
            .headers
            .get("x-canary")
            .map(String::as_str),
        Some("yes")
    );
    let mut to_v1 = 0;
    for _ in 0..400 {
        if get(&c, gw.addr, "ui.example.test", "/", &[]).await.1 == "v1" {
            to_v1 += 1;
        }
    }
    assert!((330..=390).contains(&to_v1), "{to_v1} of 400 at 90/10");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = r
        .get(format!("http://{}/old/page?x=1", gw.addr))
        .header("host", "ui.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        "http://ui.example.test/new/page?x=1"
    );
    let before = v2.count();
    assert_eq!(
        get(&c, gw.addr, "ui.example.test", "/v2api/users", &[])
            .await
            .1,
        "v2"
    );
    assert_eq!(v2.seen.lock().unwrap()[before].path, "/api/users");
}
