//! myhero-data's HTTP routes, exactly as the contract lists them: `key`
//! header auth (missing → 400, wrong → 401, both with an `Error` JSON body),
//! options CRUD, votes and the two results formats.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::options::valid_name;
use crate::{Options, VoteLog};

/// Message for a request without the `key` header (the original's words).
pub const MISSING_KEY: &str = "Method requires authorization key.";
/// Message for a request whose `key` header is wrong.
pub const WRONG_KEY: &str = "Invalid authorization key.";
/// Longest hero name a vote may carry, in bytes.
pub const MAX_NAME: usize = 256;
/// Optional header carrying a vote's idempotency key (sent by myhero-ernst).
pub const VOTE_ID_HEADER: &str = "vote-id";

/// Shared state of the routes.
#[derive(Debug)]
pub struct AppState {
    /// Expected value of the `key` header.
    pub key: String,
    /// Hero options.
    pub options: Options,
    /// Durable votes.
    pub votes: VoteLog,
}

/// The service's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/hero_list", get(hero_list))
        .route(
            "/options",
            get(get_options).put(put_option).post(post_options),
        )
        .route("/options/{option}", delete(delete_option))
        .route("/vote/{hero}", post(vote))
        .route("/results", get(results))
        .route("/v2/results", get(results_v2))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// An error answer: `{"Error": message}` with a status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "Error": self.1 }))).into_response()
    }
}

fn check_key(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    match headers.get("key") {
        None => Err(ApiError(StatusCode::BAD_REQUEST, MISSING_KEY.into())),
        Some(v) if v.as_bytes() == key.as_bytes() => Ok(()),
        Some(_) => Err(ApiError(StatusCode::UNAUTHORIZED, WRONG_KEY.into())),
    }
}

fn storage_error(e: crate::Error) -> ApiError {
    tracing::error!(error = %e, "storage failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Storage failure: {e}"),
    )
}

/// Parses a JSON body with the contract's 400 message naming what was wanted.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes, wanted: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("Request body must be JSON like {wanted}: {e}"),
        )
    })
}

async fn hero_list(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "heros": s.options.list().await }))
}

async fn get_options(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    check_key(&headers, &s.key)?;
    Ok(Json(json!({ "options": s.options.list().await })))
}

#[derive(Deserialize)]
struct OneOption {
    option: String,
}

#[derive(Deserialize)]
struct AllOptions {
    options: Vec<String>,
}

async fn put_option(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    check_key(&headers, &s.key)?;
    let OneOption { option } = body(&raw, r#"{"option": "Hero Name"}"#)?;
    if !valid_name(&option) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "Option must be a non-empty single line.".into(),
        ));
    }
    let option = option.trim().to_string();
    let list = s
        .options
        .update(|l| {
            if !l.contains(&option) {
                l.push(option.clone())
            }
        })
        .await
        .map_err(storage_error)?;
    tracing::info!(%option, "option added");
    Ok((StatusCode::CREATED, Json(json!({ "options": list }))).into_response())
}

async fn post_options(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    check_key(&headers, &s.key)?;
    let AllOptions { options } = body(&raw, r#"{"options": ["Hero One", "Hero Two"]}"#)?;
    if let Some(bad) = options.iter().position(|o| !valid_name(o)) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("options[{bad}] must be a non-empty single line."),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(options.len());
    for o in options.iter().map(|o| o.trim().to_string()) {
        if !clean.contains(&o) {
            clean.push(o);
        }
    }
    let list = s
        .options
        .update(|l| *l = clean)
        .await
        .map_err(storage_error)?;
    tracing::info!(count = list.len(), "options replaced");
    Ok((StatusCode::CREATED, Json(json!({ "options": list }))).into_response())
}

async fn delete_option(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(option): Path<String>,
) -> Result<Response, ApiError> {
    check_key(&headers, &s.key)?;
    let list = s
        .options
        .update(|l| l.retain(|o| *o != option))
        .await
        .map_err(storage_error)?;
    tracing::info!(%option, "option deleted");
    Ok((StatusCode::ACCEPTED, Json(json!({ "options": list }))).into_response())
}

async fn vote(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hero): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_key(&headers, &s.key)?;
    if hero.trim().is_empty() || hero.len() > MAX_NAME {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("Hero name must be 1 to {MAX_NAME} bytes."),
        ));
    }
    let id = headers
        .get(VOTE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    s.votes.record(&hero, id).await.map_err(storage_error)?;
    Ok(Json(json!({ "result": "1" })))
}

async fn results(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!(s.votes.tally().counts))
}

async fn results_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_key(&headers, &s.key)?;
    let tally = s.votes.tally();
    let rows = v2_rows(&tally);
    let mut resp = Json(json!(rows)).into_response();
    resp.headers_mut()
        .insert("Total-Votes", HeaderValue::from(tally.total));
    Ok(resp)
}

/// `[[hero, votes, percent]]` sorted by votes (desc) then name; percent to
/// two decimals.
pub fn v2_rows(tally: &crate::Tally) -> Vec<(String, u64, f64)> {
    let mut rows: Vec<(String, u64, f64)> = tally
        .counts
        .iter()
        .map(|(h, &n)| {
            let pct = if tally.total == 0 {
                0.0
            } else {
                (n as f64 * 10000.0 / tally.total as f64).round() / 100.0
            };
            (h.clone(), n, pct)
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}
