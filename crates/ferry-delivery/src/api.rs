//! The engine's HTTP API, nested under `/api/v1/` of every region:
//! applications (list, get, diff, sync, history, rollback, promote),
//! pipeline runs, and the git webhook endpoint.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_api::{ApiError, ErrorCode, Identity};
use ferry_core::sync::MutexExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::error::Error;

/// How one region's API treats the git webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookPolicy {
    /// The region's API listens beyond loopback: the webhook refuses to run
    /// without a configured secret (so every delivery must be signed).
    pub require_secret: bool,
}

/// Routes to nest under `/api/v1`, for an API on loopback.
pub fn router(engine: Engine) -> Router {
    router_with(engine, HookPolicy::default())
}

/// Routes to nest under `/api/v1`, with the webhook under `policy`.
pub fn router_with(engine: Engine, policy: HookPolicy) -> Router {
    Router::new()
        .route("/apps", get(list))
        .route("/apps/{name}", get(get_app))
        .route("/apps/{name}/diff", get(diff))
        .route("/apps/{name}/history", get(history))
        .route("/apps/{name}/sync", post(sync))
        .route("/apps/{name}/rollback", post(rollback))
        .route("/apps/{name}/promote", post(promote))
        .merge(crate::rollout::api::routes())
        .route("/pipelines/runs", get(runs))
        .route("/pipelines/runs/{id}", get(run))
        .route(
            "/hooks/git",
            post(
                move |State(e): State<Engine>, headers: HeaderMap, body: Bytes| {
                    hook(e, policy, headers, body)
                },
            ),
        )
        .with_state(engine)
}

fn err(e: Error) -> ApiError {
    let code = match &e {
        Error::NotFound { .. } => ErrorCode::NotFound,
        Error::Conflict(_) => ErrorCode::Conflict,
        Error::DiffBusy { .. } => ErrorCode::TooManyRequests,
        Error::Webhook(m) if m.contains("signature") || m.contains("Token") => {
            ErrorCode::Unauthorized
        }
        Error::Webhook(_) => ErrorCode::BadRequest,
        _ => ErrorCode::Internal,
    };
    ApiError::new(code, e.to_string())
}

/// Whether the caller's token reaches application `app` (no identity: no
/// authentication layer ran, as when the router is tested alone).
fn reaches(who: &Option<Extension<Identity>>, app: &str) -> bool {
    who.as_deref().is_none_or(|w| w.allows_app(app))
}

async fn list(State(e): State<Engine>, who: Option<Extension<Identity>>) -> Json<Value> {
    let apps: Vec<Value> = e
        .list()
        .into_iter()
        .filter(|a| reaches(&who, &a.name))
        .map(|a| {
            let (health, sync) = (a.health(), a.sync());
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["health"] = json!(health);
            v["sync"] = json!(sync);
            v
        })
        .collect();
    Json(json!({ "items": apps }))
}

async fn get_app(
    State(e): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = e.get(&name).map_err(err)?;
    let mut v = serde_json::to_value(&a).unwrap_or_default();
    v["health"] = json!(a.health());
    v["sync"] = json!(a.sync());
    Ok(Json(v))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    #[serde(default)]
    environment: Option<String>,
}

/// A fresh diff (`Engine::live_diff`): rendered, dry-run on the target and
/// compared with live now — or a few seconds ago (`ageMs`), within the
/// engine's bounds (`crate::diff_limit`): 429 with `Retry-After` when
/// every slot stays busy.
async fn diff(
    State(e): State<Engine>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    match e.live_diff_limited(&name, q.environment.as_deref()).await {
        Ok(d) => Json(json!({
            "name": name,
            "environments": d.environments.as_slice(),
            "ageMs": d.age.as_millis() as u64,
        }))
        .into_response(),
        Err(e) => {
            let after = match &e {
                Error::DiffBusy { retry_after, .. } => Some(retry_after.as_secs().max(1)),
                _ => None,
            };
            let mut resp = err(e).into_response();
            if let Some(secs) = after {
                resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            resp
        }
    }
}

async fn history(
    State(e): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"items": e.history(&name).map_err(err)?})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Target {
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    revision: Option<String>,
}

fn target(body: &Bytes) -> Result<Target, ApiError> {
    if body.is_empty() {
        return Ok(Target::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid body: {e}")))
}

async fn sync(
    State(e): State<Engine>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = target(&body)?;
    e.sync_now(&name, t.environment.as_deref()).map_err(err)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"name": name, "sync": "requested"})),
    ))
}

async fn rollback(
    State(e): State<Engine>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = target(&body)?;
    let entry = e
        .rollback(&name, t.environment.as_deref(), t.revision.as_deref())
        .map_err(err)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"name": name, "to": entry})),
    ))
}

async fn promote(
    State(e): State<Engine>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = target(&body)?;
    let approved = e.promote(&name, t.environment.as_deref()).map_err(err)?;
    let items: Vec<Value> = approved
        .into_iter()
        .map(|(env, rev)| json!({"environment": env, "revision": rev}))
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"name": name, "approved": items})),
    ))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    #[serde(default)]
    pipeline: Option<String>,
}

/// Whether the caller reaches the application a pipeline delivers.
fn reaches_pipeline(e: &Engine, who: &Option<Extension<Identity>>, pipeline: &str) -> bool {
    let topo = &e.inner.topology;
    let app = topo
        .pipelines
        .iter()
        .find(|p| p.metadata.name == pipeline)
        .map(|p| p.spec.application.as_str());
    app.is_some_and(|a| reaches(who, a)) || (app.is_none() && reaches(who, pipeline))
}

async fn runs(
    State(e): State<Engine>,
    who: Option<Extension<Identity>>,
    Query(q): Query<RunsQuery>,
) -> Json<Value> {
    let runs: Vec<_> = e
        .runs()
        .into_iter()
        .filter(|r| q.pipeline.as_ref().is_none_or(|p| *p == r.pipeline))
        .filter(|r| reaches_pipeline(&e, &who, &r.pipeline))
        .collect();
    Json(json!({"items": runs}))
}

async fn run(
    State(e): State<Engine>,
    who: Option<Extension<Identity>>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let found = e.runs().into_iter().find(|r| r.id == id);
    let r = found
        .filter(|r| reaches_pipeline(&e, &who, &r.pipeline))
        .ok_or_else(|| {
            err(Error::NotFound {
                kind: "pipeline run",
                name: id.to_string(),
            })
        })?;
    Ok(Json(serde_json::to_value(r).unwrap_or_default()))
}

async fn hook(
    e: Engine,
    policy: HookPolicy,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let secret = e.inner.cfg.webhook_secret.as_deref();
    if policy.require_secret && secret.is_none() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this region's API listens beyond loopback, so git webhooks must be signed: \
             set FERRY_GIT_WEBHOOK_SECRET for `ferry up` and the same secret in the git host's webhook",
        ));
    }
    crate::webhook::verify(&headers, &body, secret).map_err(err)?;
    let push = crate::webhook::parse(&headers, &body).map_err(err)?;
    let delivery = crate::webhook::delivery_id(&headers);
    let keys = crate::webhook::delivery_keys(&headers, secret);
    let first = e.inner.deliveries.lock_or_recover().first_time(&keys);
    if !first {
        tracing::info!(provider = push.provider, delivery = ?delivery, "git webhook delivered again; ignored");
        return Ok((
            StatusCode::OK,
            Json(json!({
                "provider": push.provider,
                "delivery": delivery,
                "replayed": true,
                "message": "this delivery was already received; ignored",
            })),
        ));
    }
    let apps = e.trigger_repo(&push.urls);
    tracing::info!(provider = push.provider, r#ref = ?push.git_ref, delivery = ?delivery, apps = ?apps, "git webhook");
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"provider": push.provider, "ref": push.git_ref, "delivery": delivery, "applications": apps}),
        ),
    ))
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
