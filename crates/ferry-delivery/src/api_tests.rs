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
