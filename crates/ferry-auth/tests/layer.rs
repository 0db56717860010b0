//! The middleware through `oneshot`: 401 without or with a bad token, 403
//! for the wrong role or scope, the identity handed to handlers, open
//! routes, the token API, and the audit log.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use ferry_api::{Identity, Role};
use ferry_auth::{Auth, NewToken};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(auth: Arc<Auth>) -> Router {
    let v1 = Router::new()
        .route(
            "/objects/{kind}/{ns}/{name}",
            get(|Extension(who): Extension<Identity>| async move { who.name }),
        )
        .route("/apply", post(|| async { "applied" }))
        .route("/exec/{ns}/{pod}", post(|| async { "ran" }))
        .route("/hooks/git", post(|| async { "hooked" }))
        .merge(ferry_auth::api::router(auth.clone()));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1", v1)
        .layer(axum::middleware::from_fn_with_state(
            auth,
            ferry_auth::layer::authenticate,
        ))
}

fn token(auth: &Auth, name: &str, role: Role, namespaces: &[&str]) -> String {
    auth.store()
        .create(
            NewToken {
                name: name.into(),
                role,
                namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
                apps: vec![],
                ttl: None,
            },
            ferry_auth::now(),
        )
        .unwrap()
        .0
}

async fn status(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> StatusCode {
    call(app, method, path, token, body).await.0
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    let res = app.clone().oneshot(req.unwrap()).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v, challenge)
}

#[tokio::test]
async fn missing_and_bad_tokens_are_401_with_a_challenge_and_advice() {
    let tmp = ferry_test_support::temp_dir();
    let auth = Auth::open(tmp.path()).unwrap();
    let app = app(auth);
    let (s, v, c) = call(&app, "POST", "/api/v1/apply", None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "Unauthorized");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("ferry token create")
    );
    assert_eq!(c.as_deref(), Some("Bearer realm=\"ferry\""));
    let (s, v, _) = call(
        &app,
        "GET",
        "/api/v1/objects/secrets/default/db",
        Some("ferry_nope"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["message"].as_str().unwrap().contains("not valid"));
    // Unknown paths are not enumerable without a token either.
    let (s, _, _) = call(&app, "GET", "/api/v1/no-such-route", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_the_webhook_need_no_token() {
    let tmp = ferry_test_support::temp_dir();
    let app = app(Auth::open(tmp.path()).unwrap());
    assert_eq!(
        status(&app, "GET", "/healthz", None, None).await,
        StatusCode::OK
    );
    let (s, v, _) = call(&app, "POST", "/api/v1/hooks/git", None, Some(json!({}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!("hooked")));
}

#[tokio::test]
async fn roles_and_scopes_decide_and_handlers_see_the_identity() {
    let tmp = ferry_test_support::temp_dir();
    let auth = Auth::open(tmp.path()).unwrap();
    let viewer = token(&auth, "viewer", Role::Viewer, &[]);
    let deployer = token(&auth, "deploy-web", Role::Deployer, &["web"]);
    let admin = token(&auth, "root", Role::Admin, &[]);
    let app = app(auth);

    let (s, v, _) = call(
        &app,
        "POST",
        "/api/v1/apply",
        Some(&viewer),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["code"], "Forbidden");
    assert!(
        v["message"].as_str().unwrap().contains("needs deployer"),
        "{v}"
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/apply",
            Some(&deployer),
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::OK
    );

    let (s, v, _) = call(
        &app,
        "GET",
        "/api/v1/objects/pods/web/x",
        Some(&deployer),
        None,
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!("deploy-web")));
    let (s, v, _) = call(
        &app,
        "GET",
        "/api/v1/objects/pods/kube/x",
        Some(&deployer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        v["message"].as_str().unwrap().contains("namespace `kube`"),
        "{v}"
    );

    for t in [&viewer, &deployer] {
        let (s, _, _) = call(&app, "POST", "/api/v1/exec/web/p", Some(t), Some(json!({}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "exec is for admins");
    }
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/exec/web/p",
            Some(&admin),
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_are_managed_by_admins_and_revocation_is_immediate() {
    let tmp = ferry_test_support::temp_dir();
    let auth = Auth::open(tmp.path()).unwrap();
    let admin = token(&auth, "root", Role::Admin, &[]);
    let scoped_admin = token(&auth, "ns-admin", Role::Admin, &["web"]);
    let app = app(auth);
    let body = json!({"name": "ci", "role": "deployer", "namespaces": ["web"], "ttlSeconds": 3600});
    let (s, _, _) = call(
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&scoped_admin),
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a scoped admin cannot mint tokens"
    );
    let (s, v, _) = call(&app, "POST", "/api/v1/tokens", Some(&admin), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ci = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["role"], "deployer");
    assert!(v["expires"].as_u64().unwrap() > v["created"].as_u64().unwrap());

    let (s, v, _) = call(&app, "GET", "/api/v1/tokens", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let text = v.to_string();
    assert!(
        text.contains("\"ci\"") && !text.contains(&ci) && !text.contains("sha256"),
        "{text}"
    );
    assert_eq!(
        status(&app, "GET", "/api/v1/tokens", Some(&ci), None).await,
        StatusCode::FORBIDDEN
    );

    let (s, v, _) = call(
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "x", "role": "root"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _, _) = call(
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    assert_eq!(
        status(&app, "POST", "/api/v1/apply", Some(&ci), Some(json!({}))).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, "DELETE", "/api/v1/tokens/ci", Some(&admin), None).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, "POST", "/api/v1/apply", Some(&ci), Some(json!({}))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&app, "DELETE", "/api/v1/tokens/ci", Some(&admin), None).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_mutating_call_is_audited_without_bodies() {
    let tmp = ferry_test_support::temp_dir();
    let auth = Auth::open(tmp.path()).unwrap();
    let viewer = token(&auth, "viewer", Role::Viewer, &[]);
    let admin = token(&auth, "root", Role::Admin, &[]);
    let app = app(auth);
    call(
        &app,
        "POST",
        "/api/v1/apply",
        None,
        Some(json!({"secret": "hunter2"})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/apply",
        Some(&viewer),
        Some(json!({})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/apply",
        Some(&admin),
        Some(json!({"secret": "hunter2"})),
    )
    .await;
    call(
        &app,
        "GET",
        "/api/v1/objects/pods/web/x",
        Some(&admin),
        None,
    )
    .await;
    let text = std::fs::read_to_string(tmp.path().join("auth/audit.log")).unwrap();
    assert!(!text.contains("hunter2"));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "reads are not audited: {text}");
    let fields = |l: &Value| {
        (
            l["identity"].clone(),
            l["outcome"].clone(),
            l["status"].clone(),
        )
    };
    assert_eq!(
        fields(&lines[0]),
        (json!("-"), json!("unauthenticated"), json!(401))
    );
    assert_eq!(
        fields(&lines[1]),
        (json!("viewer"), json!("forbidden"), json!(403))
    );
    assert_eq!(
        fields(&lines[2]),
        (json!("root"), json!("allowed"), json!(200))
    );
    assert_eq!(lines[2]["verb"], "POST");
    assert_eq!(lines[2]["object"], "/api/v1/apply");
    assert!(lines[2]["time"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn ensure_admin_keeps_a_valid_token_and_replaces_a_lost_one() {
    let tmp = ferry_test_support::temp_dir();
    let auth = Auth::open(tmp.path()).unwrap();
    let first = auth
        .ensure_admin(None)
        .unwrap()
        .expect("a first admin token");
    assert_eq!(auth.ensure_admin(Some(&first)).unwrap(), None);
    let second = auth
        .ensure_admin(Some("ferry_lost"))
        .unwrap()
        .expect("a new one");
    assert_ne!(first, second);
    let names: Vec<String> = auth.store().list().into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["admin".to_string(), "admin-2".to_string()]);
    let viewer = token(&auth, "v", Role::Viewer, &[]);
    assert!(
        auth.ensure_admin(Some(&viewer)).unwrap().is_some(),
        "a viewer token is not kept as the admin token"
    );
}
