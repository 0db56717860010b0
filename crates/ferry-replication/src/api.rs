//! `/api/v1/replication`: the status of every rule this region's engine
//! runs, one rule, and a trigger for an immediate reconcile pass.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_api::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::status::RuleStatus;

/// `GET /api/v1/replication`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusList {
    pub region: String,
    pub rules: Vec<RuleStatus>,
}

/// Routes to merge into the region's `/api/v1` router.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/replication", get(list))
        .route("/replication/reconcile", post(reconcile))
        .route("/replication/{rule}", get(one))
        .with_state(engine)
}

async fn list(State(e): State<Engine>) -> Json<StatusList> {
    Json(StatusList {
        region: e.region().to_string(),
        rules: e.status(),
    })
}

async fn one(
    State(e): State<Engine>,
    Path(rule): Path<String>,
) -> Result<Json<RuleStatus>, ApiError> {
    e.status()
        .into_iter()
        .find(|s| s.name == rule)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("no replication rule `{rule}` runs in region {}", e.region()),
            )
        })
}

async fn reconcile(State(e): State<Engine>) -> StatusCode {
    e.reconcile_now();
    StatusCode::ACCEPTED
}
