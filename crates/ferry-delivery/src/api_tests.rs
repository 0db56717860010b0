//! Tests of the delivery API routes (`api.rs`), called through the router
//! with `oneshot` over an engine that holds one application and no target.

use super::*;
use axum::body::Body;
use axum::http::Request;
use std::sync::Arc;
use tower::ServiceExt;

fn engine(secret: Option<&str>) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let topo = ferry_core::topology::Topology::from_sources(&[(
        "t.yaml".into(),
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec: {source: {repoUrl: 'https://git.example/o/web.git'}}\n".into(),
    )])
    .unwrap();
    let mut cfg = crate::EngineConfig::new(dir.path().to_path_buf());
    cfg.webhook_secret = secret.map(str::to_string);
    let e = Engine::new(
        cfg,
        Arc::new(topo),
        Default::default(),
        Arc::new(crate::images::AnyImage),
    )
    .unwrap();
    (e, dir)
}

async fn call(r: Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = r.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn signed_webhook_triggers_the_repository_and_unsigned_is_refused() {
    let (e, _d) = engine(Some("k"));
    let body =
        r#"{"ref":"refs/heads/master","repository":{"clone_url":"https://git.example/o/web.git"}}"#;
    let sig = crate::webhook::sign(body.as_bytes(), "k");
    let req = Request::post("/hooks/git")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", sig)
        .body(Body::from(body))
        .unwrap();
    let (status, v) = call(router(e.clone()), req).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(v["applications"][0], "web");
    let req = Request::post("/hooks/git").body(Body::from(body)).unwrap();
    let (status, v) = call(router(e), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
}

#[tokio::test]
async fn apps_are_listed_and_unknown_ones_are_404() {
    let (e, _d) = engine(None);
    let (status, v) = call(
        router(e.clone()),
        Request::get("/apps").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["items"][0]["name"], "web");
    let (status, _) = call(
        router(e.clone()),
        Request::get("/apps/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        router(e),
        Request::post("/apps/web/rollback")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// A push of commit `after`, delivered as `delivery` (header, ID).
fn push_req(delivery: (&str, &str), secret: Option<&str>, after: &str) -> Request<Body> {
    let body = format!(
        r#"{{"ref":"refs/heads/master","after":"{after}","repository":{{"clone_url":"https://git.example/o/web.git"}}}}"#
    );
    let mut req = Request::post("/hooks/git")
        .header("content-type", "application/json")
        .header(delivery.0, delivery.1);
    if let Some(s) = secret {
        req = req.header(
            "x-hub-signature-256",
            crate::webhook::sign(body.as_bytes(), s),
        );
    }
    req.body(Body::from(body)).unwrap()
}

fn hook_req(delivery: (&str, &str), secret: Option<&str>) -> Request<Body> {
    push_req(delivery, secret, "abc")
}

/// Whether a webhook asked for a fetch since the last call (and clears it).
fn fetch_requested(e: &Engine) -> bool {
    let mut st = e.lock();
    st.repos
        .values_mut()
        .map(|r| std::mem::take(&mut r.want_fetch))
        .filter(|asked| *asked)
        .count()
        > 0
}

#[tokio::test]
async fn a_replayed_delivery_is_answered_but_not_run_again() {
    for (header, secret) in [
        ("x-github-delivery", Some("k")),
        ("x-gitea-delivery", None),
        ("x-gitlab-webhook-uuid", None),
        ("x-gitlab-event-uuid", None),
    ] {
        let (e, _d) = engine(secret);
        let (status, v) = call(router(e.clone()), hook_req((header, "d-1"), secret)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{header}: {v}");
        assert_eq!(v["delivery"], "d-1");
        assert!(fetch_requested(&e), "{header}");
        let (status, v) = call(router(e.clone()), hook_req((header, "d-1"), secret)).await;
        assert_eq!(status, StatusCode::OK, "{header}: {v}");
        assert_eq!(v["replayed"], true, "{v}");
        assert!(!fetch_requested(&e), "{header}: the replay ran again");
        // A new delivery runs.
        let (status, _) = call(router(e.clone()), push_req((header, "d-2"), secret, "def")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(fetch_requested(&e));
    }
}

#[tokio::test]
async fn a_captured_signed_body_under_a_new_delivery_id_is_a_replay() {
    let (e, _d) = engine(Some("k"));
    let (status, _) = call(
        router(e.clone()),
        hook_req(("x-github-delivery", "a"), Some("k")),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(fetch_requested(&e));
    let (status, v) = call(
        router(e.clone()),
        hook_req(("x-github-delivery", "b"), Some("k")),
    )
    .await;
    assert_eq!((status, &v["replayed"]), (StatusCode::OK, &json!(true)));
    assert!(!fetch_requested(&e));
}

#[tokio::test]
async fn beyond_loopback_an_unsigned_webhook_needs_a_secret() {
    let exposed = HookPolicy {
        require_secret: true,
    };
    // No secret configured: every delivery is refused, saying what to set.
    let (e, _d) = engine(None);
    let (status, v) = call(
        router_with(e.clone(), exposed),
        hook_req(("x-github-delivery", "x"), None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("FERRY_GIT_WEBHOOK_SECRET"),
        "{v}"
    );
    assert!(!fetch_requested(&e));
    // On loopback the same request runs (a local git hook without a secret).
    let (status, _) = call(
        router(e.clone()),
        hook_req(("x-github-delivery", "x"), None),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // With a secret, signed deliveries run and unsigned ones are refused.
    let (e, _d) = engine(Some("k"));
    let r = router_with(e.clone(), exposed);
    let (status, _) = call(r.clone(), hook_req(("x-github-delivery", "y"), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(r, hook_req(("x-github-delivery", "y"), Some("k"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_diff_is_reused_while_fresh_and_refused_with_retry_after_when_slots_stay_busy() {
    let (e, _d) = engine(None);
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, v) = call(router(e.clone()), get("/apps/web/diff")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ageMs"], 0, "run for this request: {v}");
    // Both slots held by comparisons that never end.
    for app in ["a", "b"] {
        let e = e.clone();
        let key = (app.to_string(), None);
        tokio::spawn(async move {
            let never = std::future::pending::<crate::Result<Vec<crate::EnvDiff>>>();
            e.inner.diffs.run(key, never).await
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while e.inner.diffs.running() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slots were never taken"
        );
        tokio::task::yield_now().await;
    }
    let (status, v) = call(router(e.clone()), get("/apps/web/diff")).await;
    assert_eq!(status, StatusCode::OK, "a fresh result needs no slot: {v}");
    let resp = router(e)
        .oneshot(get("/apps/web/diff?environment=dev"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "5");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["code"], "TooManyRequests", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("try again in 5 s"),
        "{v}"
    );
}
