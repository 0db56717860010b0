//! The region's web UI (ferry-ui) under `/ui` of its API listener: built
//! from the region's token store, runtime, registry (and its image events),
//! replication engine and gateway (the traffic page) and the process's delivery engine,
//! following the engine's changes and sampling the gateway's metrics until
//! the region stops. Regions other processes run are probed every
//! [`PROBE_EVERY`] (`GET /api/v1` through the gates' client, their CA and
//! token) so the overview can say which answer and since when one does
//! not.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ferry_ui::regions::RegionStates;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::region::RegionContext;
use crate::remote::HttpRemoteRegions;

/// How often the overview's remote regions are probed.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(15);

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
    let regions = Arc::new(RegionStates::new());
    let client = HttpRemoteRegions::new(&ctx.topology, &ctx.endpoints, &ctx.config_dir);
    tokio::spawn(probe(client, regions.clone(), ctx.shutdown.clone()));
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
        regions: Some(regions.clone()),
        events: Some(ctx.events.clone()),
    })
    .map_err(|e| Error::Component {
        region: ctx.name.clone(),
        component: "ui",
        message: e.to_string(),
    })?;
    ui.start(ctx.shutdown.clone());
    Ok(ferry_ui::router(ui))
}

/// Probes each remote region now and every [`PROBE_EVERY`] until
/// `shutdown`, recording the answers in `states`.
pub(crate) async fn probe(
    client: HttpRemoteRegions,
    states: Arc<RegionStates>,
    shutdown: CancellationToken,
) {
    let names: Vec<String> = client.regions().map(String::from).collect();
    if names.is_empty() {
        return;
    }
    loop {
        for region in &names {
            let answer = tokio::select! {
                a = client.version(region) => a,
                () = shutdown.cancelled() => return,
            };
            if let Err(e) = &answer {
                tracing::debug!(region = %region, error = %e, "remote region does not answer");
            }
            states.record(region, answer, ferry_auth::now() * 1000);
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_EVERY) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
