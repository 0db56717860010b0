//! ferry's per-region API server building blocks.
//!
//! [`router`] serves `/healthz`, `/readyz`, `/metrics` and nests each
//! component's JSON routes under `/api/v1/`. Components report readiness
//! through [`Readiness`] and return errors as [`ApiError`], which renders as
//! `{"code": "...", "message": "..."}` with a matching HTTP status. The
//! [`guard`] refuses what a web page could send (rebinding hosts,
//! cross-origin requests, non-JSON mutations); [`serve()`] runs the router on a
//! listener with timeouts, a connection cap and optional TLS ([`tls`]).
#![forbid(unsafe_code)]

mod error;
pub mod guard;
mod health;
pub mod identity;
pub mod serve;
pub mod tls;

pub use error::{ApiError, ErrorCode};
pub use guard::ListenerNames;
pub use health::Readiness;
pub use identity::{Identity, Role, ServiceAccountRef};
pub use serve::{ConnInfo, ServeConfig, serve};

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

/// Errors of this crate (rendering metrics is the only fallible step).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot encode metrics: {0}")]
    Metrics(#[from] std::fmt::Error),
    #[error("tls: {path}: {message}; check spec.tls.certFile and spec.tls.keyFile of the region")]
    Tls {
        path: std::path::PathBuf,
        message: String,
    },
}

/// Everything the built-in routes need.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub region: String,
    pub metrics: Arc<Registry>,
    pub readiness: Readiness,
    /// The names the listener answers to (the guard's Host check).
    pub names: ListenerNames,
}

/// The region's API: built-in routes plus `v1`, nested under `/api/v1`,
/// behind the browser [`guard`]. Unknown paths answer a JSON 404.
pub fn router(state: ApiState, v1: Router) -> Router {
    router_with(state, v1, Router::new())
}

/// [`router`] with `extra` routes beside the API (the web UI under `/ui`),
/// behind the same guard: its Host check applies to them; the cross-origin
/// and content-type rules stay `/api/v1`'s (the UI checks
/// [`guard::check_same_origin`] and a CSRF token itself).
pub fn router_with(state: ApiState, v1: Router, extra: Router) -> Router {
    let names = state.names.clone();
    let builtin = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1", get(version))
        .with_state(state);
    builtin
        .nest("/api/v1", v1)
        .merge(extra)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(names, guard::guard))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<ApiState>) -> Response {
    let waiting = s.readiness.not_ready();
    if waiting.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("waiting for: {}", waiting.join(", ")),
        )
        .into_response()
    }
}

async fn metrics(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &s.metrics)
        .map_err(|e| ApiError::internal(Error::from(e)))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn version(State(s): State<ApiState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "apiVersion": "v1",
        "region": s.region,
        "ferryVersion": env!("CARGO_PKG_VERSION"),
    }))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no route for {}", uri.path()))
}

#[cfg(test)]
mod tests;
