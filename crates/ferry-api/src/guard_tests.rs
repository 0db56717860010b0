//! The browser guard through `oneshot`: each attack a web page can mount,
//! refused, and the requests ferry's own clients send, allowed.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use tower::ServiceExt;

use crate::{ApiState, ListenerNames, Readiness, router};

fn app(names: ListenerNames) -> Router {
    let v1 = Router::new()
        .route("/apply", post(|| async { "applied" }))
        .route("/objects", get(|| async { "objects" }))
        .route("/hooks/git", post(|| async { "hooked" }));
    let state = ApiState {
        region: "uk".into(),
        metrics: Arc::new(prometheus_client::registry::Registry::default()),
        readiness: Readiness::default(),
        names,
    };
    router(state, v1)
}

async fn send(req: Request<Body>) -> (StatusCode, String, bool) {
    let resp = app(ListenerNames::default()).oneshot(req).await.unwrap();
    let status = resp.status();
    let cors = resp
        .headers()
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"));
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned(), cors)
}

fn post_json(path: &str) -> axum::http::request::Builder {
    Request::post(path)
        .header(header::HOST, "127.0.0.1:7070")
        .header(header::CONTENT_TYPE, "application/json")
}

#[tokio::test]
async fn cross_site_form_post_is_refused() {
    // What a page on evil.example submits with an HTML form.
    let req = Request::post("/api/v1/apply")
        .header(header::HOST, "127.0.0.1:7070")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from("sources=x"))
        .unwrap();
    let (status, body, cors) = send(req).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("\"code\":\"Forbidden\""), "{body}");
    assert!(!cors);
    // Without the browser headers, the form encoding alone is refused too.
    let req = Request::post("/api/v1/apply")
        .header(header::HOST, "127.0.0.1:7070")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("sources=x"))
        .unwrap();
    let (status, body, _) = send(req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body.contains("application/json"), "{body}");
    let req = Request::delete("/api/v1/apply")
        .header(header::HOST, "127.0.0.1:7070")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn cross_origin_json_and_same_site_fetches_are_refused() {
    for (origin, site) in [
        (Some("http://evil.example"), None),
        (Some("http://127.0.0.1:3000"), None),
        (Some("https://127.0.0.1:7070"), None),
        (Some("null"), None),
        (None, Some("same-site")),
        (None, Some("cross-site")),
    ] {
        let mut req = post_json("/api/v1/apply");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        let (status, body, _) = send(req.body(Body::from("{}")).unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin:?} {site:?}: {body}");
    }
    let (status, _, _) = send(
        Request::get("/api/v1/objects")
            .header(header::HOST, "localhost:7070")
            .header(header::ORIGIN, "http://evil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn dns_rebinding_host_is_refused() {
    // evil.example resolved to 127.0.0.1 a moment ago: same socket, foreign name.
    for path in ["/api/v1/objects", "/metrics"] {
        let req = Request::get(path)
            .header(header::HOST, "evil.example:7070")
            .body(Body::empty())
            .unwrap();
        let (status, body, _) = send(req).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{path}: {body}");
        assert!(body.contains("spec.tls.hostnames"), "{body}");
    }
}

#[tokio::test]
async fn ferry_clients_requests_pass() {
    let (status, body, cors) =
        send(post_json("/api/v1/apply").body(Body::from("{}")).unwrap()).await;
    assert_eq!(
        (status, body.as_str(), cors),
        (StatusCode::OK, "applied", false)
    );
    for host in ["localhost:7070", "[::1]:7070", "127.0.0.2", "LOCALHOST."] {
        let req = Request::get("/api/v1/objects")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(req).await.0, StatusCode::OK, "{host}");
    }
    // Same-origin fetch from the API's own origin, and a charset parameter.
    let req = post_json("/api/v1/apply")
        .header(header::ORIGIN, "http://127.0.0.1:7070")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(req).await.0, StatusCode::OK);
    // No Host at all (HTTP/1.0): no browser sends that.
    let req = Request::get("/api/v1/objects").body(Body::empty()).unwrap();
    assert_eq!(send(req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_webhook_keeps_its_own_check() {
    let req = Request::post("/api/v1/hooks/git")
        .header(header::HOST, "ferry.example.org")
        .header(header::ORIGIN, "https://git.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("payload=x"))
        .unwrap();
    assert_eq!(send(req).await.1, "hooked");
}

#[tokio::test]
async fn configured_hostnames_and_the_bound_address_are_names() {
    let names = ListenerNames::new("10.1.2.3".parse().unwrap(), &["Ferry.Example.org".into()]);
    for (host, want) in [
        ("ferry.example.org:7443", StatusCode::OK),
        ("10.1.2.3:7443", StatusCode::OK),
        ("10.1.2.4:7443", StatusCode::MISDIRECTED_REQUEST),
        ("other.example.org", StatusCode::MISDIRECTED_REQUEST),
    ] {
        let req = Request::get("/api/v1/objects")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let resp = app(names.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), want, "{host}");
    }
}

#[tokio::test]
async fn an_upgrade_needs_no_json_type_but_still_its_own_origin() {
    // port-forward's tunnel: POST with `Upgrade`, no body to type.
    let upgrade = |origin: Option<&str>| {
        let mut req = Request::post("/api/v1/apply")
            .header(header::HOST, "127.0.0.1:7070")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "ferry-portforward");
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        req.body(Body::empty()).unwrap()
    };
    assert_eq!(send(upgrade(None)).await.0, StatusCode::OK);
    assert_eq!(
        send(upgrade(Some("http://evil.example"))).await.0,
        StatusCode::FORBIDDEN
    );
}
