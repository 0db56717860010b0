//! The process's one delivery engine: created and started by [`crate::start`]
//! before any region, with its data under the first region's data
//! directory (`<data dir>/delivery`), then handed to every region, which
//! attaches its sync target and registry.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use ferry_core::events::EventBus;
use ferry_core::topology::Topology;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::region::RegionContext;

/// Creates and starts the engine (runtime flags from the process
/// environment); `region` names the region whose data directory holds it.
pub(crate) fn engine(
    region: &str,
    data_dir: &Path,
    topology: &Arc<Topology>,
    events: &EventBus,
    shutdown: &CancellationToken,
) -> Result<ferry_delivery::Engine, Error> {
    let cfg = ferry_delivery::EngineConfig::from_env(data_dir.join("delivery"), |k| {
        std::env::var(k).ok()
    });
    let engine = ferry_delivery::Engine::new(
        cfg,
        topology.clone(),
        events.clone(),
        Arc::new(ferry_delivery::images::HttpImageCheck::default()),
    )
    .map_err(|e| Error::Component {
        region: region.to_string(),
        component: "delivery",
        message: e.to_string(),
    })?;
    engine.start(shutdown.clone());
    Ok(engine)
}

/// Attaches a region to the engine: this region's runtime is its sync
/// target and its registry the image source. Returns the engine's routes.
pub(crate) fn attach(
    ctx: &RegionContext,
    engine: &ferry_delivery::Engine,
    runtime: &ferry_runtime::Runtime,
    metrics: &mut Registry,
    api_loopback: bool,
) -> Router {
    let registry = ctx
        .endpoints
        .get(&ctx.name)
        .map(|e| e.registry.to_string())
        .unwrap_or_default();
    let routes = ferry_delivery::attach(
        engine,
        ferry_delivery::Attach {
            region: &ctx.name,
            target: Arc::new(ferry_delivery::runtime_target::RuntimeTarget::new(
                runtime.clone(),
            )),
            registry,
            builder: Some(Arc::new(crate::builder::DockerfileBuilder::new(
                &ctx.data_dir,
            ))),
            api_loopback,
        },
    );
    engine.metrics().register(metrics);
    routes
}
