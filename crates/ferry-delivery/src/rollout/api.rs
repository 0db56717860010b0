//! `/api/v1/apps/{app}/rollout` (GET: the app's rollouts, `?environment=`
//! narrows), `…/rollout/promote` and `…/rollout/abort` (POST, body
//! `{"environment": ENV}`): what `ferry app rollout status|promote|abort`
//! calls. Promote skips the current step (a `pause: {}` ends); abort rolls
//! back in one route-table swap.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use ferry_api::{ApiError, ErrorCode};
use ferry_core::sync::MutexExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Phase;
use crate::engine::Engine;

/// The rollout routes, to merge into the engine's router.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/apps/{name}/rollout", get(status))
        .route("/apps/{name}/rollout/promote", post(promote))
        .route("/apps/{name}/rollout/abort", post(abort))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvQuery {
    #[serde(default)]
    environment: Option<String>,
}

fn known(e: &Engine, name: &str) -> Result<(), ApiError> {
    e.get(name)
        .map(|_| ())
        .map_err(|err| ApiError::new(ErrorCode::NotFound, err.to_string()))
}

async fn status(
    State(e): State<Engine>,
    Path(name): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Json<Value>, ApiError> {
    known(&e, &name)?;
    let items = e.rollouts(&name, q.environment.as_deref());
    Ok(Json(json!({"name": name, "items": items})))
}

fn environment(body: &Bytes) -> Result<String, ApiError> {
    let q: EnvQuery = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid body: {e}")))?;
    q.environment
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "missing field `environment`"))
}

/// Marks the running rollouts of `name` in the body's environment.
fn mark(
    e: &Engine,
    name: &str,
    body: &Bytes,
    f: fn(&mut super::Rollout),
) -> Result<Json<Value>, ApiError> {
    known(e, name)?;
    let env = environment(body)?;
    let mut active = e.inner.rollouts.active.lock_or_recover();
    let mut marked = Vec::new();
    for r in active
        .values_mut()
        .filter(|r| r.app == name && r.environment == env)
    {
        if !matches!(
            r.phase,
            Phase::Completed | Phase::Aborted | Phase::Promoting
        ) {
            f(r);
            marked.push(r.deployment.clone());
        }
    }
    if marked.is_empty() {
        let msg = format!("no canary of application {name} is running in environment {env}");
        return Err(ApiError::new(ErrorCode::Conflict, msg));
    }
    Ok(Json(
        json!({"name": name, "environment": env, "deployments": marked}),
    ))
}

async fn promote(
    State(e): State<Engine>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let out = mark(&e, &name, &body, |r| r.promote = true)?;
    Ok((StatusCode::ACCEPTED, out))
}

async fn abort(
    State(e): State<Engine>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let out = mark(&e, &name, &body, |r| r.abort = true)?;
    Ok((StatusCode::ACCEPTED, out))
}
