//! One region: its data directory, metrics registry, readiness flags and
//! components, each served on its own listener until shutdown.
//!
//! Components plug in here: each gets the [`RegionContext`], registers its
//! metrics under its own prefix, raises its readiness flag once it serves,
//! and contributes JSON routes under `/api/v1/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use ferry_api::{ApiState, Readiness};
use ferry_core::events::EventBus;
use ferry_core::topology::{Region, Topology};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::listeners::RegionSockets;
use crate::tls::RegionTls;
use crate::{Error, RegionEndpoints, ServerConfig};

/// What every component of a region is given.
#[derive(Debug, Clone)]
pub struct RegionContext {
    /// The region's name.
    pub name: String,
    /// Its state directory (created before components start).
    pub data_dir: PathBuf,
    /// The topology file's directory: base of relative paths in it.
    pub config_dir: PathBuf,
    /// The whole topology, for cross-region work such as replication.
    pub topology: Arc<Topology>,
    /// The bound addresses of every region.
    pub endpoints: Arc<BTreeMap<String, RegionEndpoints>>,
    /// The process-wide event bus.
    pub events: EventBus,
    /// Cancelled when the region must stop.
    pub shutdown: CancellationToken,
    /// Status pushed in by private regions (read by promotion gates).
    pub pushed: Arc<crate::pushed_status::PushedStore>,
}

pub(crate) fn data_dir(config: &ServerConfig, region: &Region) -> PathBuf {
    match &region.spec.data_dir {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => config.config_dir.join(p),
        None => config.data_root.join(&region.metadata.name),
    }
}

/// What starting a region gave back.
#[derive(Debug)]
pub(crate) struct Started {
    /// A new admin token, when `known` was missing or not valid.
    pub new_admin_token: Option<String>,
}

/// Starts the region's components on their sockets and attaches it to the
/// process's delivery engine; `known` is the admin token the operator's
/// client config holds for this region.
pub(crate) async fn start(
    ctx: RegionContext,
    sockets: RegionSockets,
    tls: RegionTls,
    known: Option<&str>,
    delivery: &crate::delivery::Delivery,
    tasks: &mut JoinSet<()>,
) -> Result<Started, Error> {
    std::fs::create_dir_all(&ctx.data_dir).map_err(|source| Error::DataDir {
        region: ctx.name.clone(),
        path: ctx.data_dir.clone(),
        source,
    })?;
    let mut metrics = Registry::with_prefix_and_labels(
        "ferry",
        [("region".into(), ctx.name.clone().into())].into_iter(),
    );
    let readiness = Readiness::default();
    let auth_failed = |source| Error::Auth {
        region: ctx.name.clone(),
        path: ctx.data_dir.join("auth"),
        source,
    };
    let auth = ferry_auth::Auth::open(&ctx.data_dir).map_err(auth_failed)?;
    let new_admin_token = auth.ensure_admin(known).map_err(auth_failed)?;
    let v1 = ferry_auth::api::router(auth.clone());

    // Components not built yet answer 503 on their listener, so clients get a
    // clear answer rather than a refused connection.
    let endpoints = sockets.endpoints();
    let api_addr = endpoints.api;
    let twin = sockets.registry_local;
    let registry = start_registry(
        &ctx,
        sockets.registry,
        tls.registry.clone(),
        tasks,
        &mut metrics,
        &readiness,
    )?;
    if let Some(twin) = twin {
        crate::remote::serve_local_twin(&ctx, &registry, twin, tasks);
    }
    let replication = start_replication(&ctx, &mut metrics)?;
    let api_service = ferry_runtime::ApiService {
        addr: api_addr,
        ca_pem: tls.api_ca.as_ref().and_then(|p| std::fs::read(p).ok()),
    };
    let runtime = start_runtime(&ctx, tasks, &readiness, &auth, api_service).await?;
    auth.set_authorizer(runtime.authorizer());
    let gateway = start_gateway(
        &ctx,
        sockets.gateway,
        tasks,
        &mut metrics,
        &readiness,
        &runtime,
    );
    let v1 = v1.merge(ferry_gateway::routes::api(gateway.clone()));
    let splits: ferry_core::traffic::SharedTrafficSplits = std::sync::Arc::new(gateway.clone());
    delivery.engine.set_traffic(&ctx.name, splits);
    crate::status_push::spawn(&ctx, &delivery.engine, tasks);
    let v1 = v1.merge(ferry_runtime::api::router(runtime.clone()));
    let v1 = v1.merge(crate::endpoints_api::router(&endpoints));
    let v1 = v1.merge(ferry_replication::api::router(replication.clone()));
    let v1 = v1.merge(crate::pushed_status::router(
        ctx.pushed.clone(),
        ctx.topology.clone(),
        &ctx.name,
    ));
    let api_loopback = crate::exposure::is_loopback(api_addr);
    let v1 = v1.merge(
        delivery
            .attach(&ctx, &runtime, &registry, &mut metrics, api_loopback)
            .await?,
    );

    register_process_metrics(&mut metrics);
    let mut hostnames = ctx
        .topology
        .region(&ctx.name)
        .and_then(|r| r.spec.tls.as_ref())
        .map(|t| t.hostnames.clone())
        .unwrap_or_default();
    hostnames.extend(ferry_runtime::KUBERNETES_NAMES.map(String::from));
    let ui = crate::ui::router(
        &ctx,
        &auth,
        &delivery.engine,
        &runtime,
        &registry,
        &replication,
        &gateway,
    )?;
    let api = ferry_api::router_with(
        ApiState {
            region: ctx.name.clone(),
            metrics: Arc::new(metrics),
            readiness,
            names: ferry_api::ListenerNames::new(api_addr.ip(), &hostnames),
        },
        v1,
        ui,
    )
    .layer(axum::middleware::from_fn_with_state(
        auth,
        ferry_auth::layer::authenticate,
    ));
    serve_api(tasks, &ctx, sockets.api, api, &tls)?;
    tracing::info!(region = %ctx.name, data_dir = %ctx.data_dir.display(), "region started");
    Ok(Started { new_admin_token })
}

/// The region's gateway (Ingress, Gateway API, Istio routing) on its listener.
/// It routes to the runtime's Services (dialing into pods' namespaces), owns
/// the routing kinds the runtime stores, and handles pod-to-Service traffic.
fn start_gateway(
    ctx: &RegionContext,
    listener: TcpListener,
    tasks: &mut JoinSet<()>,
    metrics: &mut Registry,
    readiness: &Readiness,
    runtime: &ferry_runtime::Runtime,
) -> ferry_gateway::Gateway {
    readiness.register("gateway");
    let gateway = ferry_gateway::Gateway::new(
        runtime.dialer(),
        runtime.services(),
        ferry_gateway::GatewayConfig::default(),
    );
    runtime.register_owner(gateway.kind_owner());
    runtime.set_mesh_handler(gateway.mesh_handler(ctx.shutdown.clone()));
    runtime.set_request_counts(gateway.request_counts());
    gateway.set_serving(runtime.serving(), runtime.autoscaler());
    let rt = runtime.clone();
    gateway.set_secret_source(std::sync::Arc::new(ferry_gateway::tls::FnSecrets(
        move |ns: &str, name: &str| rt.get(ferry_runtime::kinds::Kind::Secret, ns, name).ok(),
    )));
    gateway.metrics().register(metrics);
    gateway.activator().register(metrics);
    runtime.register_metrics(metrics);
    let (gw, shutdown) = (gateway.clone(), ctx.shutdown.clone());
    tasks.spawn(async move { gw.serve(listener, shutdown).await });
    readiness.set("gateway", true);
    gateway
}

/// The region's runtime (pods through runc), state under `<data dir>/runtime`,
/// its pods' service-account tokens in the region's token store;
/// on shutdown it stops every pod so no container outlives `ferry up`.
async fn start_runtime(
    ctx: &RegionContext,
    tasks: &mut JoinSet<()>,
    readiness: &Readiness,
    auth: &Arc<ferry_auth::Auth>,
    api: ferry_runtime::ApiService,
) -> Result<ferry_runtime::Runtime, Error> {
    readiness.register("runtime");
    let mut config = ferry_runtime::RuntimeConfig::new(ctx.data_dir.join("runtime"));
    // Pods' service-account tokens come from the region's token store and
    // reach the API as the `kubernetes` Service.
    config.auth = Some(auth.clone());
    config.api = Some(api);
    // The region is the node (`ferry get nodes`, cordon, drain).
    config.node_name = ctx.name.clone();
    config.encryption_config = ctx
        .topology
        .region(&ctx.name)
        .and_then(|r| r.spec.encryption_config.as_ref())
        .map(|p| ctx.config_dir.join(p));
    let runtime = ferry_runtime::Runtime::start(config)
        .await
        .map_err(|e| Error::Component {
            region: ctx.name.clone(),
            component: "runtime",
            message: e.to_string(),
        })?;
    let (rt, shutdown) = (runtime.clone(), ctx.shutdown.clone());
    tasks.spawn(async move {
        shutdown.cancelled().await;
        rt.shutdown().await;
    });
    readiness.set("runtime", true);
    Ok(runtime)
}

/// The region's replication engine (one per region): it runs the
/// ReplicationRules whose source is this region (a URL source runs in its
/// target region), state under `<data dir>/replication`, status at
/// `/api/v1/replication`.
fn start_replication(
    ctx: &RegionContext,
    metrics: &mut Registry,
) -> Result<ferry_replication::Engine, Error> {
    let (registries, cas) = crate::remote::registries(ctx)?;
    let mut cfg = ferry_replication::EngineConfig::new(
        &ctx.name,
        ctx.data_dir.join("replication"),
        ctx.topology.replication_rules.clone(),
        registries,
        ctx.events.clone(),
        ctx.shutdown.clone(),
    );
    cfg.cas = cas;
    cfg.first_region = ctx
        .topology
        .regions
        .first()
        .is_some_and(|r| r.metadata.name == ctx.name);
    ferry_replication::Engine::start(cfg, metrics).map_err(|e| Error::Component {
        region: ctx.name.clone(),
        component: "replication",
        message: e.to_string(),
    })
}

/// The region's OCI registry on its listener, data under `<data dir>/registry`.
/// `tls` is `spec.registry.tls` with generated files filled in.
fn start_registry(
    ctx: &RegionContext,
    listener: TcpListener,
    tls: Option<ferry_core::registry_spec::RegistryTls>,
    tasks: &mut JoinSet<()>,
    metrics: &mut Registry,
    readiness: &Readiness,
) -> Result<ferry_registry::Registry, Error> {
    readiness.register("registry");
    let mut spec = ctx
        .topology
        .region(&ctx.name)
        .and_then(|r| r.spec.registry.clone())
        .unwrap_or_default();
    spec.tls = tls;
    let config = ferry_registry::Config {
        region: ctx.name.clone(),
        data_dir: ctx.data_dir.join("registry"),
        spec,
    };
    let failed = |e: ferry_registry::Error| Error::Component {
        region: ctx.name.clone(),
        component: "registry",
        message: e.to_string(),
    };
    let registry = ferry_registry::Registry::open(config.clone(), ctx.events.clone(), metrics)
        .map_err(failed)?;
    let server = registry
        .serve_on(&config, listener, ctx.shutdown.clone())
        .map_err(failed)?;
    tasks.spawn(server);
    readiness.set("registry", true);
    Ok(registry)
}

/// Serves the API on its listener (over TLS when the region says so) with
/// ferry-api's timeouts and connection cap until the region's shutdown,
/// letting in-flight requests finish.
fn serve_api(
    tasks: &mut JoinSet<()>,
    ctx: &RegionContext,
    listener: TcpListener,
    app: Router,
    tls: &RegionTls,
) -> Result<(), Error> {
    let acceptor = match &tls.api {
        Some(files) => Some(
            ferry_api::tls::acceptor(&files.cert, &files.key).map_err(|e| Error::Component {
                region: ctx.name.clone(),
                component: "api",
                message: e.to_string(),
            })?,
        ),
        None => None,
    };
    let config = ferry_api::ServeConfig {
        tls: acceptor,
        ..ferry_api::ServeConfig::default()
    };
    tasks.spawn(ferry_api::serve(
        listener,
        app,
        config,
        ctx.shutdown.clone(),
    ));
    Ok(())
}

fn register_process_metrics(metrics: &mut Registry) {
    use prometheus_client::metrics::gauge::Gauge;
    let info: Gauge = Gauge::default();
    info.set(1);
    metrics.register("build_info", "ferry build information (always 1)", info);
}
