//! Runs the regions a topology declares, all in one process.
//!
//! [`start`] binds every listener of every region first (so a port in use is
//! reported, naming region and listener, before anything runs), then builds
//! each region's components on those sockets and serves until
//! [`Running::shutdown`]. Shutdown is graceful: listeners stop accepting,
//! in-flight requests finish, components stop their children.
//!
//! Before binding, [`start`] refuses an API or registry listener beyond
//! loopback without TLS and authentication (`exposure.rs`); TLS material is
//! generated or resolved per region (`tls.rs`), and [`Running::api`] says how
//! clients reach each region's API (URL and CA). The one delivery engine is
//! created here and shared by every region (`delivery.rs`), which also
//! turns each environment's `spec.target` into a sync target.
#![forbid(unsafe_code)]

pub mod builder;
mod clusters;
mod delivery;
mod endpoints_api;
mod exposure;
mod listeners;
mod pull;
mod pushed_status;
mod region;
mod remote;
mod status_push;
mod tls;
mod ui;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::events::EventBus;
use ferry_core::topology::Topology;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use delivery::KubeTargets;
pub use exposure::is_loopback;
pub use region::RegionContext;

/// Errors starting or running regions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "region `{region}` cannot listen on {addr} for its {listener} listener: {source}; \
         change spec.listeners.{listener} in the topology or stop the process using that port"
    )]
    Bind {
        region: String,
        listener: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("region `{region}`: cannot create data directory {path}: {source}")]
    DataDir {
        region: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("region `{region}`: cannot open its tokens under {}: {source}", path.display())]
    Auth {
        region: String,
        path: PathBuf,
        #[source]
        source: ferry_auth::Error,
    },
    #[error("region `{region}`: {component} failed to start: {message}")]
    Component {
        region: String,
        component: &'static str,
        message: String,
    },
    #[error("refusing to expose listeners:\n  {}", problems.join("\n  "))]
    Exposed { problems: Vec<String> },
    #[error("region `{region}`: TLS: {message}")]
    Tls { region: String, message: String },
    #[error(
        "a Kubernetes target (spec.target.kubernetes) is named by {}, but this ferry has no \
         Kubernetes target built in; use `target: {{embedded: {{}}}}` or a ferry built with \
         Kubernetes support",
        named.join(", ")
    )]
    NoKubernetes { named: Vec<String> },
    #[error("--region `{region}` is not a Region of the topology (it declares {})", known.join(", "))]
    UnknownRegion { region: String, known: Vec<String> },
}

/// What `ferry up` needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub topology: Topology,
    /// Where a region without `spec.dataDir` keeps its state: `<root>/<name>`.
    pub data_root: PathBuf,
    /// Base for relative `spec.dataDir` paths (the config file's directory).
    pub config_dir: PathBuf,
    /// The admin token the operator's client config holds for each region
    /// (by region name); a region creates a new admin token when its entry
    /// is missing or no longer valid, and [`Running::new_admin_tokens`]
    /// hands it back to be written into the client config.
    pub known_tokens: BTreeMap<String, String>,
    /// The API checks bearer tokens; without it no API listener may be
    /// bound beyond loopback.
    pub auth_enabled: bool,
    /// Connects `target: {kubernetes: ...}` environments and regions to
    /// their clusters; without it such a topology is refused.
    pub kube_targets: Option<Arc<dyn KubeTargets>>,
}

impl ServerConfig {
    /// Each region's data directory (`spec.dataDir`, relative to
    /// `config_dir`, else `<data_root>/<name>`), as the regions will use it.
    pub fn region_data_dirs(&self) -> Vec<PathBuf> {
        self.topology
            .regions
            .iter()
            .map(|r| region::data_dir(self, r))
            .collect()
    }
}

/// The actual addresses one region listens on (port 0 resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegionEndpoints {
    pub api: SocketAddr,
    pub registry: SocketAddr,
    /// Where the region's own components reach its registry: the loopback
    /// twin of an exposed registry listener (`listeners.rs`), else the
    /// registry listener (an unspecified address as loopback).
    #[serde(skip)]
    pub local_registry: SocketAddr,
    pub gateway: SocketAddr,
}

/// One row of the endpoint table `ferry up` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub region: String,
    pub listener: &'static str,
    pub url: String,
}

/// How clients reach one region's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiEndpoint {
    /// `http://127.0.0.1:7070`, or `https://...` when the API serves TLS.
    pub url: String,
    /// The CA certificate (PEM) that signed the API's certificate, when it
    /// is ferry's own CA or the topology's `spec.tls.caFile`.
    pub ca_file: Option<PathBuf>,
}

/// Regions that are up; dropping it without [`Running::shutdown`] still
/// cancels everything, but does not wait.
#[derive(Debug)]
pub struct Running {
    endpoints: Arc<BTreeMap<String, RegionEndpoints>>,
    new_admin_tokens: BTreeMap<String, String>,
    apis: BTreeMap<String, ApiEndpoint>,
    /// Regions whose registry serves HTTPS.
    registry_tls: Vec<String>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

/// Checks exposure, binds every listener, then starts every region.
pub async fn start(config: ServerConfig) -> Result<Running, Error> {
    start_regions(config, None).await
}

/// Starts only region `name` of the topology (`ferry up --region`); the
/// others run in other processes, reached at their `spec.endpoints`
/// (`remote.rs`).
pub async fn start_region(config: ServerConfig, name: &str) -> Result<Running, Error> {
    start_regions(config, Some(name)).await
}

async fn start_regions(config: ServerConfig, only: Option<&str>) -> Result<Running, Error> {
    let mut local = config.topology.clone();
    if let Some(name) = only {
        local.regions.retain(|r| r.metadata.name == name);
        if local.regions.is_empty() {
            return Err(Error::UnknownRegion {
                region: name.to_string(),
                known: config
                    .topology
                    .regions
                    .iter()
                    .map(|r| r.metadata.name.clone())
                    .collect(),
            });
        }
        local.environments.retain(|e| e.spec.region == name);
    }
    exposure::check(&local, config.auth_enabled)?;
    delivery::check_targets(&local, config.kube_targets.is_some())?;
    let bound = listeners::bind_all(&local)?;
    let endpoints: Arc<BTreeMap<String, RegionEndpoints>> = Arc::new(
        bound
            .iter()
            .map(|b| (b.region.clone(), b.endpoints()))
            .collect(),
    );
    let shutdown = CancellationToken::new();
    let events = EventBus::default();
    let mut topology = config.topology.clone();
    // Paths an Application names are relative to the topology file.
    for app in &mut topology.applications {
        if let Some(ca) = &mut app.spec.source.ca_file {
            *ca = config.config_dir.join(&*ca);
        }
    }
    let topology = Arc::new(topology);
    // One delivery engine for every region, its data under the first's.
    let delivery = match bound.first() {
        Some(first) => {
            let region = topology
                .region(&first.region)
                .expect("bound regions come from the topology");
            let dir = region::data_dir(&config, region);
            Some(delivery::Delivery::start(
                &first.region,
                &dir,
                &config,
                &topology,
                &events,
                &shutdown,
            )?)
        }
        None => None,
    };
    let pushed = Arc::new(pushed_status::PushedStore::default());
    let dir = &config.config_dir;
    if let (Some(d), Some(remote)) = (
        &delivery,
        remote::remote_regions_client(&topology, &endpoints, dir, pushed.clone()),
    ) {
        d.engine.set_remote_regions(remote);
    }
    let mut tasks = JoinSet::new();
    let mut new_admin_tokens = BTreeMap::new();
    let (mut apis, mut registry_tls) = (BTreeMap::new(), Vec::new());
    for sockets in bound {
        let region = topology
            .region(&sockets.region)
            .expect("bound regions come from the topology");
        let data_dir = region::data_dir(&config, region);
        let addrs = sockets.endpoints();
        let tls = match tls::prepare(
            region,
            &data_dir,
            &config.config_dir,
            addrs.api,
            addrs.registry,
        ) {
            Ok(t) => t,
            Err(e) => {
                shutdown.cancel();
                while tasks.join_next().await.is_some() {}
                return Err(e);
            }
        };
        apis.insert(sockets.region.clone(), api_endpoint(addrs.api, &tls));
        if tls.registry.is_some() {
            registry_tls.push(sockets.region.clone());
        }
        let ctx = RegionContext {
            name: sockets.region.clone(),
            data_dir,
            config_dir: config.config_dir.clone(),
            topology: topology.clone(),
            endpoints: endpoints.clone(),
            events: events.clone(),
            shutdown: shutdown.child_token(),
            pushed: pushed.clone(),
        };
        let known = config.known_tokens.get(&sockets.region).map(String::as_str);
        let delivery = delivery
            .as_ref()
            .expect("the engine exists when a region does");
        match region::start(ctx, sockets, tls, known, delivery, &mut tasks).await {
            Ok(started) => {
                if let Some(t) = started.new_admin_token {
                    new_admin_tokens.insert(region.metadata.name.clone(), t);
                }
            }
            Err(e) => {
                shutdown.cancel();
                while tasks.join_next().await.is_some() {}
                return Err(e);
            }
        }
    }
    Ok(Running {
        endpoints,
        new_admin_tokens,
        apis,
        registry_tls,
        shutdown,
        tasks,
    })
}

/// The URL a client on this host uses (an unspecified bind becomes loopback).
fn api_endpoint(addr: SocketAddr, tls: &tls::RegionTls) -> ApiEndpoint {
    let scheme = if tls.api.is_some() { "https" } else { "http" };
    ApiEndpoint {
        url: format!("{scheme}://{}", reachable(addr)),
        ca_file: tls.api_ca.clone(),
    }
}

pub(crate) fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

impl Running {
    /// Every listener of every region, for the table `ferry up` prints.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for (region, e) in self.endpoints.iter() {
            let registry_scheme = if self.registry_tls.contains(region) {
                "https"
            } else {
                "http"
            };
            let api = self.apis.get(region).map(|a| a.url.clone());
            for (listener, url) in [
                ("api", api.unwrap_or_else(|| format!("http://{}", e.api))),
                ("registry", format!("{registry_scheme}://{}", e.registry)),
                ("gateway", format!("http://{}", e.gateway)),
            ] {
                out.push(Endpoint {
                    region: region.clone(),
                    listener,
                    url,
                });
            }
        }
        out
    }

    /// Admin tokens created at this start (region → token), for the client
    /// config; empty when every known token was still valid.
    pub fn new_admin_tokens(&self) -> &BTreeMap<String, String> {
        &self.new_admin_tokens
    }

    /// How clients reach region `name`'s API: URL and the CA to trust.
    pub fn api(&self, name: &str) -> Option<&ApiEndpoint> {
        self.apis.get(name)
    }

    /// The bound addresses of region `name`.
    pub fn region(&self, name: &str) -> Option<RegionEndpoints> {
        self.endpoints.get(name).copied()
    }

    /// Stops accepting, lets in-flight work finish, and waits for every task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Resolves when a task ends by itself before shutdown (a failure).
    pub async fn wait_for_failure(&mut self) {
        if self.tasks.join_next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests;
