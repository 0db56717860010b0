//! What authentication adds to one API call: the same router (a handler
//! answering a small JSON list, as `GET /api/v1/objects/pods` does) called
//! in-process through `oneshot`, with and without the authentication layer,
//! alternating in rounds so both sides meet the same machine. Prints the
//! p50 of each side and their difference (`bench/api_auth.sh` runs it).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use ferry_api::Role;
use ferry_auth::{Auth, NewToken};
use tower::ServiceExt;

const CALLS: usize = 20_000;
const ROUNDS: usize = 5;

fn handler_router() -> Router {
    Router::new().route(
        "/api/v1/objects/pods",
        get(|| async {
            axum::Json(serde_json::json!({"items": [{"metadata": {"name": "web-1"}}]}))
        }),
    )
}

async fn p50(app: &Router, token: &str) -> Duration {
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let req = Request::get("/api/v1/objects/pods?namespace=default")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let start = Instant::now();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_success());
        times.push(start.elapsed());
    }
    times.sort();
    times[CALLS / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::open(dir.path()).unwrap();
    for i in 0..100 {
        let new = |name: String| NewToken {
            name,
            role: Role::Viewer,
            namespaces: vec![],
            apps: vec![],
            ttl: None,
        };
        auth.store().create(new(format!("t{i}")), 0).unwrap();
    }
    let (token, _) = auth
        .store()
        .create(
            NewToken {
                name: "bench".into(),
                role: Role::Viewer,
                namespaces: vec![],
                apps: vec![],
                ttl: None,
            },
            0,
        )
        .unwrap();
    let plain = handler_router();
    let authed = handler_router().layer(axum::middleware::from_fn_with_state(
        auth,
        ferry_auth::layer::authenticate,
    ));
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which side goes first.
        if round % 2 == 0 {
            without.push(p50(&plain, &token).await);
            with.push(p50(&authed, &token).await);
        } else {
            with.push(p50(&authed, &token).await);
            without.push(p50(&plain, &token).await);
        }
    }
    without.sort();
    with.sort();
    let (a, b) = (without[ROUNDS / 2], with[ROUNDS / 2]);
    println!("calls per side per round: {CALLS}, rounds: {ROUNDS}, 101 tokens in the store");
    println!("p50 without auth: {:.2} µs", a.as_secs_f64() * 1e6);
    println!("p50 with auth:    {:.2} µs", b.as_secs_f64() * 1e6);
    println!(
        "auth adds {:.2} µs per call (target: under 50 µs); ratio {:.2}",
        (b.as_secs_f64() - a.as_secs_f64()) * 1e6,
        b.as_secs_f64() / a.as_secs_f64()
    );
}
