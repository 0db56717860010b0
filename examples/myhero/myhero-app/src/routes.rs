//! myhero-app's HTTP routes: /health, /options (GET cached; PUT/POST
//! proxied), /vote/<hero> (direct or queue), /v2/results (proxied), all but
//! /health behind the `key` header, and CORS headers on every answer so the
//! browser-side UI on another origin can call it.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;

use crate::data::{DataClient, Passed};
use crate::queue::Publisher;

/// Message for a request without the `key` header.
pub const MISSING_KEY: &str = "Method requires authorization key.";
/// Message for a request whose `key` header is wrong.
pub const WRONG_KEY: &str = "Invalid authorization key.";
/// Vote answers.
pub const SUBMITTED: &str = "vote submitted";
/// Vote answers.
pub const FAILED: &str = "vote submission failed";

/// Where votes go.
#[derive(Debug)]
pub enum VoteSink {
    /// Straight to myhero-data.
    Direct,
    /// Through the MQTT broker.
    Queue(Publisher),
}

/// Shared state of the routes.
#[derive(Debug)]
pub struct AppState {
    /// Expected `key` header.
    pub key: String,
    /// myhero-data client.
    pub data: DataClient,
    /// Vote path.
    pub votes: VoteSink,
}

/// The service's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(|| async { "Service up." }))
        .route(
            "/options",
            get(get_options).put(put_options).post(post_options),
        )
        .route("/vote/{hero}", post(vote))
        .route("/v2/results", get(results_v2))
        .layer(middleware::from_fn(cors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers preflight requests and adds the CORS headers to every answer.
async fn cors(req: Request, next: Next) -> Response {
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type,Authorization,Key"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,PUT,POST,DELETE,OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Total-Votes"),
    );
    resp
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "Error": msg.into() }))).into_response()
}

fn check_key(headers: &HeaderMap, key: &str) -> Result<(), Response> {
    match headers.get("key") {
        None => Err(error(StatusCode::BAD_REQUEST, MISSING_KEY)),
        Some(v) if v.as_bytes() == key.as_bytes() => Ok(()),
        Some(_) => Err(error(StatusCode::UNAUTHORIZED, WRONG_KEY)),
    }
}

fn pass(p: Passed) -> Response {
    let status = StatusCode::from_u16(p.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], p.body).into_response();
    if let Some(total) = p.total_votes.and_then(|t| HeaderValue::from_str(&t).ok()) {
        resp.headers_mut().insert("Total-Votes", total);
    }
    resp
}

fn upstream_down(e: crate::Error) -> Response {
    tracing::warn!(error = %e, "myhero-data request failed");
    error(
        StatusCode::BAD_GATEWAY,
        format!("Data service unavailable: {e}"),
    )
}

async fn get_options(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_key(&headers, &s.key) {
        return r;
    }
    s.data.options().await.map_or_else(upstream_down, pass)
}

/// Checks the body is JSON before proxying, with the contract's 400.
fn json_body(raw: &Bytes, wanted: &str) -> Result<(), Response> {
    serde_json::from_slice::<serde_json::Value>(raw)
        .map(|_| ())
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("Request body must be JSON like {wanted}: {e}"),
            )
        })
}

async fn put_options(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Err(r) =
        check_key(&headers, &s.key).and_then(|()| json_body(&raw, r#"{"option": "Hero Name"}"#))
    {
        return r;
    }
    s.data
        .change_options(reqwest::Method::PUT, raw)
        .await
        .map_or_else(upstream_down, pass)
}

async fn post_options(State(s): State<Arc<AppState>>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Err(r) = check_key(&headers, &s.key)
        .and_then(|()| json_body(&raw, r#"{"options": ["Hero One", "Hero Two"]}"#))
    {
        return r;
    }
    s.data
        .change_options(reqwest::Method::POST, raw)
        .await
        .map_or_else(upstream_down, pass)
}

async fn vote(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hero): Path<String>,
) -> Response {
    if let Err(r) = check_key(&headers, &s.key) {
        return r;
    }
    let res = match &s.votes {
        VoteSink::Direct => s.data.vote(&hero, None).await,
        VoteSink::Queue(p) => p.publish(&hero).await,
    };
    match res {
        Ok(()) => Json(json!({ "result": SUBMITTED })).into_response(),
        Err(e) => {
            tracing::warn!(%hero, error = %e, "vote submission failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "result": FAILED })),
            )
                .into_response()
        }
    }
}

async fn results_v2(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_key(&headers, &s.key) {
        return r;
    }
    s.data.results_v2().await.map_or_else(upstream_down, pass)
}
