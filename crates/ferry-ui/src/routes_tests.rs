//! The UI's routes through the whole router (`oneshot`), with a real token
//! store and a real delivery engine (not started).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ferry_api::Role;
use ferry_auth::{Auth, NewToken};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

const HOST: &str = "127.0.0.1:7070";

pub(crate) struct World {
    pub(crate) ui: Ui,
    pub(crate) auth: Arc<Auth>,
    pub(crate) _dir: tempfile::TempDir,
}

impl World {
    pub(crate) fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path()).unwrap();
        let engine = crate::testdata::engine(&dir.path().join("delivery"), &["web"]);
        let ui = Ui::new(crate::UiConfig {
            region: "uk".into(),
            topology: Arc::new(
                ferry_core::topology::Topology::from_sources(&[(
                    "t.yaml".into(),
                    "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n".into(),
                )])
                .unwrap(),
            ),
            endpoints: Default::default(),
            auth: auth.clone(),
            engine,
            runtime: None,
            sessions: Default::default(),
            registry: None,
            replication: None,
            traffic: None,
            regions: None,
            events: None,
        })
        .unwrap();
        World {
            ui,
            auth,
            _dir: dir,
        }
    }

    pub(crate) fn token(&self, name: &str, role: Role) -> String {
        let new = NewToken {
            name: name.into(),
            role,
            namespaces: vec![],
            apps: vec![],
            ttl: None,
        };
        self.auth.store().create(new, ferry_auth::now()).unwrap().0
    }

    pub(crate) async fn send(
        &self,
        req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let resp = router(self.ui.clone()).oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into(),
        )
    }

    pub(crate) async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::get(path).header(header::HOST, HOST);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::post(path)
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(form.to_string())).unwrap())
            .await
    }

    /// Logs in with `token`; the cookie to send and the session's CSRF token.
    pub(crate) async fn login(&self, token: &str) -> (String, String) {
        let (status, headers, _) = self
            .post(
                "/ui/login",
                None,
                &format!("token={token}&next=%2Fui%2Fapps"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_string();
        let (_, _, page) = self.get("/ui/apps", Some(&cookie)).await;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a CSRF field on the page")
            .to_string();
        (cookie, csrf)
    }
}

pub(crate) fn location(h: &axum::http::HeaderMap) -> &str {
    h[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn without_a_session_every_page_and_action_sends_to_login() {
    let w = World::new();
    let (status, h, _) = w.get("/ui/apps?env=dev", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/ui/login?next=%2Fui%2Fapps%3Fenv%3Ddev");
    for path in [
        "/ui",
        "/ui/apps/web",
        "/ui/apps/web/diff?env=dev",
        "/ui/events?view=overview",
        "/ui/serverless",
        "/ui/pipelines",
        "/ui/pipelines/runs/1",
        "/ui/registry",
        "/ui/registry/repo?name=web",
        "/ui/events?view=pipelines",
        "/ui/events?view=run&run=1",
        "/ui/traffic",
        "/ui/traffic/live",
        "/ui/pods",
        "/ui/pods/default/web-1",
        "/ui/pods/default/web-1/logs",
    ] {
        let (status, _, _) = w.get(path, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
    }
    for action in [
        "/ui/apps/web/rollback",
        "/ui/apps/web/promote",
        "/ui/pods/default/web-1/exec",
    ] {
        let (status, h, _) = w.post(action, None, "csrf=x").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{action}");
        assert_eq!(location(&h), "/ui/login?next=%2Fui");
    }
    let (status, _, _) = w.get("/ui/apps", Some("ferry_session=forged")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "an unknown session is none");
    let (status, _, page) = w.get("/ui/login", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("type=\"password\""));
}

#[tokio::test]
async fn the_serverless_page_needs_a_session_and_is_in_the_nav() {
    let w = World::new();
    let (status, h, _) = w.get("/ui/serverless", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/ui/login?next=%2Fui%2Fserverless");
    let (cookie, _) = w.login(&w.token("alice", Role::Viewer)).await;
    let (status, _, page) = w.get("/ui/serverless", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Serverless</h1>"), "{page}");
    assert!(
        page.contains("No Knative Services"),
        "no runtime, no services"
    );
    assert!(page.contains("<a href=\"/ui/serverless\" aria-current=\"page\">Serverless</a>"));
}

#[tokio::test]
async fn login_gives_a_strict_http_only_cookie_and_the_token_appears_nowhere() {
    let w = World::new();
    let token = w.token("alice", Role::Viewer);
    let (status, h, _) = w
        .post(
            "/ui/login",
            None,
            &format!("token={token}&next=%2Fui%2Fapps"),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/ui/apps");
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains(&token));
    let cookie = set.split(';').next().unwrap();
    let (status, h, page) = w.get("/ui/apps", Some(cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(">web</a>"), "{page}");
    assert!(!page.contains(&token));
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let (status, _, page) = w.post("/ui/login", None, "token=ferry_wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("not valid"));
    let (_, h, _) = w
        .post(
            "/ui/login",
            None,
            &format!("token={token}&next=https://evil.example/"),
        )
        .await;
    assert_eq!(location(&h), "/ui", "login never sends elsewhere");
}

#[tokio::test]
async fn a_viewer_sees_no_buttons_and_cannot_sync_or_roll_back() {
    let w = World::new();
    let (cookie, csrf) = w.login(&w.token("alice", Role::Viewer)).await;
    let (_, _, page) = w.get("/ui/apps/web", Some(&cookie)).await;
    assert!(!page.contains("/sync\""), "{page}");
    for action in ["sync", "rollback"] {
        let (status, _, page) = w
            .post(
                &format!("/ui/apps/web/{action}"),
                Some(&cookie),
                &format!("csrf={csrf}&env=dev"),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}");
        assert!(page.contains("this needs deployer"), "{page}");
    }
    let audit = std::fs::read_to_string(w._dir.path().join("auth/audit.log")).unwrap();
    assert!(
        audit.contains(r#""object":"/ui/apps/web/rollback","outcome":"forbidden""#),
        "{audit}"
    );
}

#[tokio::test]
async fn posts_need_the_sessions_csrf_token_and_the_same_origin() {
    let w = World::new();
    let (cookie, csrf) = w.login(&w.token("dora", Role::Deployer)).await;
    for form in ["env=dev".to_string(), "csrf=wrong&env=dev".to_string()] {
        let (status, _, page) = w.post("/ui/apps/web/sync", Some(&cookie), &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form}");
        assert!(page.contains("CSRF"));
    }
    let req = Request::post("/ui/apps/web/sync")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    let (status, _, _) = w.send(req).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a cross-origin post");
    let (status, h, _) = w
        .post("/ui/apps/web/sync", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/ui/apps/web");
    // Rollback reaches the engine, which has nothing to go back to.
    let (status, _, page) = w
        .post(
            "/ui/apps/web/rollback",
            Some(&cookie),
            &format!("csrf={csrf}&env=dev"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
}

#[tokio::test]
async fn logout_and_revoking_the_token_end_the_session() {
    let w = World::new();
    let (cookie, csrf) = w.login(&w.token("alice", Role::Viewer)).await;
    let (status, _, _) = w.post("/ui/logout", Some(&cookie), "csrf=nope").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, h, _) = w
        .post("/ui/logout", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        h[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(w.get("/ui", Some(&cookie)).await.0, StatusCode::SEE_OTHER);

    let (cookie, _) = w.login(&w.token("bob", Role::Viewer)).await;
    assert_eq!(w.get("/ui", Some(&cookie)).await.0, StatusCode::OK);
    w.auth.store().revoke("bob").unwrap();
    assert_eq!(w.get("/ui", Some(&cookie)).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_live_stream_patches_after_a_change_and_resumes_or_reloads() {
    let w = World::new();
    w.ui.start(tokio_util::sync::CancellationToken::new());
    let (cookie, _) = w.login(&w.token("alice", Role::Viewer)).await;
    let since = w.ui.inner.changes.id(w.ui.inner.changes.seq());
    let req = Request::get(format!("/ui/events?view=app&app=web&since={since}"))
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let resp = router(w.ui.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    w.ui.cfg().engine.sync_now("web", None).unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).to_string();
    assert!(text.contains("event: patch"), "{text}");
    assert!(text.contains(r#""id":"env""#), "{text}");
    assert!(
        text.contains(&format!("id: {}", w.ui.inner.changes.id(1))),
        "{text}"
    );

    // An id from another process (ferry restarted): reload.
    let req = Request::get("/ui/events?view=overview")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .header("last-event-id", "other-3")
        .body(Body::empty())
        .unwrap();
    let (_, _, text) = w.send(req).await;
    assert!(text.starts_with("event: reload"), "{text}");

    // The region stopping ends open streams (the listener's drain does not
    // wait for them).
    let shutdown = tokio_util::sync::CancellationToken::new();
    w.ui.start(shutdown.clone());
    let req = Request::get("/ui/events?view=overview")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let resp = router(w.ui.clone()).oneshot(req).await.unwrap();
    shutdown.cancel();
    let body = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        resp.into_body().collect(),
    );
    body.await.expect("the stream ends at shutdown").unwrap();
}
