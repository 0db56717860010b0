//! Runs the regions a topology declares, all in one process.
//!
//! [`start`] binds every listener of every region first (so a port in use is
//! reported, naming region and listener, before anything runs), then builds
//! each region's components on those sockets and serves until
//! [`Running::shutdown`]. Shutdown is graceful: listeners stop accepting,
//! in-flight requests finish, components stop their children.
#![forbid(unsafe_code)]

pub mod builder;
mod listeners;
mod region;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::events::EventBus;
use ferry_core::topology::Topology;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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
    #[error("region `{region}`: {component} failed to start: {message}")]
    Component {
        region: String,
        component: &'static str,
        message: String,
    },
}

/// What `ferry up` needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub topology: Topology,
    /// Where a region without `spec.dataDir` keeps its state: `<root>/<name>`.
    pub data_root: PathBuf,
    /// Base for relative `spec.dataDir` paths (the config file's directory).
    pub config_dir: PathBuf,
}

/// The actual addresses one region listens on (port 0 resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegionEndpoints {
    pub api: SocketAddr,
    pub registry: SocketAddr,
    pub gateway: SocketAddr,
}

/// One row of the endpoint table `ferry up` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub region: String,
    pub listener: &'static str,
    pub url: String,
}

/// Regions that are up; dropping it without [`Running::shutdown`] still
/// cancels everything, but does not wait.
#[derive(Debug)]
pub struct Running {
    endpoints: Arc<BTreeMap<String, RegionEndpoints>>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

/// Binds every listener, then starts every region.
pub async fn start(config: ServerConfig) -> Result<Running, Error> {
    let bound = listeners::bind_all(&config.topology)?;
    let endpoints: Arc<BTreeMap<String, RegionEndpoints>> = Arc::new(
        bound
            .iter()
            .map(|b| (b.region.clone(), b.endpoints()))
            .collect(),
    );
    let shutdown = CancellationToken::new();
    let events = EventBus::default();
    let topology = Arc::new(config.topology.clone());
    let mut tasks = JoinSet::new();
    for sockets in bound {
        let region = topology
            .region(&sockets.region)
            .expect("bound regions come from the topology");
        let data_dir = region::data_dir(&config, region);
        let ctx = RegionContext {
            name: sockets.region.clone(),
            data_dir,
            topology: topology.clone(),
            endpoints: endpoints.clone(),
            events: events.clone(),
            shutdown: shutdown.child_token(),
        };
        if let Err(e) = region::start(ctx, sockets, &mut tasks).await {
            shutdown.cancel();
            while tasks.join_next().await.is_some() {}
            return Err(e);
        }
    }
    Ok(Running {
        endpoints,
        shutdown,
        tasks,
    })
}

impl Running {
    /// Every listener of every region, for the table `ferry up` prints.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for (region, e) in self.endpoints.iter() {
            for (listener, addr) in [
                ("api", e.api),
                ("registry", e.registry),
                ("gateway", e.gateway),
            ] {
                out.push(Endpoint {
                    region: region.clone(),
                    listener,
                    url: format!("http://{addr}"),
                });
            }
        }
        out
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
