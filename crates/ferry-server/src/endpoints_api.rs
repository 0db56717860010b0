//! `GET /api/v1/endpoints`: where a client reaches this region's registry
//! and gateway, so verbs that push images or send requests through the
//! gateway (`ferry fn deploy`, `ferry fn invoke`) need no flags on a
//! default set-up. `registry` is the listener clients push to;
//! `localRegistry` the address the region's runtime pulls from (the
//! loopback twin of an exposed listener), which image references of
//! manifests applied to this region name.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::RegionEndpoints;

/// The route, answering `e`'s addresses (an unspecified IP as loopback).
pub(crate) fn router(e: &RegionEndpoints) -> Router {
    let body = json!({
        "api": crate::reachable(e.api).to_string(),
        "registry": crate::reachable(e.registry).to_string(),
        "localRegistry": e.local_registry.to_string(),
        "gateway": crate::reachable(e.gateway).to_string(),
    });
    Router::new().route("/endpoints", get(move || async move { Json(body) }))
}
