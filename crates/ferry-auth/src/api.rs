//! Token management under `/api/v1/tokens` (admin only, by the policy):
//! list (never the secrets), create (the secret is in the answer, once) and
//! revoke.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use ferry_api::{ApiError, ErrorCode, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Auth, Error, NewToken};

/// The routes, to be nested under `/api/v1`.
pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{name}", delete(revoke))
        .with_state(auth)
}

/// Body of `POST /tokens`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: String,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
    /// Lifetime in seconds; absent: never expires.
    ttl_seconds: Option<u64>,
}

fn api_error(e: Error) -> ApiError {
    let code = match e {
        Error::BadName(_) => ErrorCode::Invalid,
        Error::Exists(_) => ErrorCode::Conflict,
        Error::NotFound(_) => ErrorCode::NotFound,
        _ => return ApiError::internal(e),
    };
    ApiError::new(code, e.to_string())
}

async fn list(State(auth): State<Arc<Auth>>) -> Json<Value> {
    Json(json!({ "items": auth.store().list() }))
}

async fn create(
    State(auth): State<Arc<Auth>>,
    Json(body): Json<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::new(
            ErrorCode::Invalid,
            format!("role `{}` is not one of viewer, deployer, admin", body.role),
        )
    })?;
    if body.ttl_seconds == Some(0) {
        return Err(ApiError::new(
            ErrorCode::Invalid,
            "ttlSeconds must be positive",
        ));
    }
    let (secret, record) = auth
        .store()
        .create(
            NewToken {
                name: body.name,
                role,
                namespaces: body.namespaces,
                apps: body.apps,
                ttl: body.ttl_seconds,
            },
            crate::now(),
        )
        .map_err(api_error)?;
    tracing::info!(token = %record.name, role = %record.role, "token created");
    let mut v = serde_json::to_value(&record).unwrap_or_default();
    v["token"] = json!(secret);
    Ok(Json(v))
}

async fn revoke(
    State(auth): State<Arc<Auth>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = auth.store().revoke(&name).map_err(api_error)?;
    tracing::info!(token = %record.name, "token revoked");
    Ok(Json(json!({ "revoked": record.name })))
}
