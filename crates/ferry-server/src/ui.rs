//! The region's web UI (ferry-ui) under `/ui` of its API listener: built
//! from the region's token store, runtime, registry, replication engine
//! and gateway (the traffic page) and the process's delivery engine,
//! following the engine's changes and sampling the gateway's metrics until
//! the region stops.

use std::sync::Arc;

use axum::Router;

use crate::Error;
use crate::region::RegionContext;

/// The UI's routes, its live feed started.
pub(crate) fn router(
    ctx: &RegionContext,
    auth: &Arc<ferry_auth::Auth>,
    engine: &ferry_delivery::Engine,
    runtime: &ferry_runtime::Runtime,
    registry: &ferry_registry::Registry,
    replication: &ferry_replication::Engine,
    gateway: &ferry_gateway::Gateway,
) -> Result<Router, Error> {
    let endpoints = ctx
        .endpoints
        .iter()
        .map(|(name, e)| (name.clone(), e.api.to_string()))
        .collect();
    let ui = ferry_ui::Ui::new(ferry_ui::UiConfig {
        region: ctx.name.clone(),
        topology: ctx.topology.clone(),
        endpoints,
        auth: auth.clone(),
        engine: engine.clone(),
        runtime: Some(runtime.clone()),
        sessions: Default::default(),
        registry: Some(registry.clone()),
        replication: Some(replication.clone()),
        traffic: Some(ferry_ui::traffic::TrafficSource::of(gateway.clone())),
    })
    .map_err(|e| Error::Component {
        region: ctx.name.clone(),
        component: "ui",
        message: e.to_string(),
    })?;
    ui.start(ctx.shutdown.clone());
    Ok(ferry_ui::router(ui))
}
