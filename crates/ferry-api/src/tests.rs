//! Handler tests through `oneshot`.

use super::*;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use tower::ServiceExt;

fn state() -> ApiState {
    let mut reg = Registry::with_prefix("ferry");
    let c: Counter = Counter::default();
    c.inc();
    reg.register("test_events", "events seen", c);
    ApiState {
        region: "uk".into(),
        metrics: Arc::new(reg),
        readiness: Readiness::default(),
        names: ListenerNames::default(),
    }
}

async fn call(app: Router, path: &str) -> (StatusCode, String, String) {
    let res = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn healthz_and_metrics() {
    let app = router(state(), Router::new());
    assert_eq!(call(app.clone(), "/healthz").await.0, StatusCode::OK);
    let (status, ctype, body) = call(app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("application/openmetrics-text"));
    assert!(body.contains("# TYPE ferry_test_events counter"), "{body}");
    assert!(body.contains("ferry_test_events_total 1"), "{body}");
    assert!(body.ends_with("# EOF\n"));
}

#[tokio::test]
async fn readyz_waits_for_every_component() {
    let s = state();
    s.readiness.register("registry");
    s.readiness.register("gateway");
    let app = router(s.clone(), Router::new());
    let (status, _, body) = call(app.clone(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], "Unavailable");
    assert_eq!(json["message"], "waiting for: gateway, registry");
    s.readiness.set("registry", true);
    s.readiness.set("gateway", true);
    assert_eq!(call(app, "/readyz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn v1_routes_nest_and_unknown_paths_are_json_404() {
    let v1 = Router::new().route("/things", get(|| async { "things" }));
    let app = router(state(), v1);
    assert_eq!(call(app.clone(), "/api/v1/things").await.2, "things");
    let (status, _, body) = call(app.clone(), "/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], "NotFound");
    let (_, _, body) = call(app, "/api/v1").await;
    assert!(body.contains("\"region\":\"uk\""));
}

#[test]
fn validation_errors_carry_each_problem() {
    let problems = ferry_core::Problems(vec![
        ferry_core::Problem::at("f.yaml", 0, "spec.replicas", "expected an integer"),
        ferry_core::Problem::at("f.yaml", 1, "kind", "unknown kind `Deploy`"),
    ]);
    let err = ApiError::from(ferry_core::Error::Invalid(problems));
    assert_eq!(err.code.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.details.len(), 2);
    assert!(err.details[1].contains("document 1"));
}
