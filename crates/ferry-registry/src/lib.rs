//! ferry's OCI registry: the Distribution Spec v1.1 served from one
//! catch-all `/v2/{*rest}` route ([`api`]), over content-addressed,
//! crash-safe [`storage`], with online garbage collection ([`gc`], also run
//! periodically inside the server), events on
//! the region's bus and CloudEvents webhooks ([`webhooks`]), Docker token
//! auth ([`auth`]) and Prometheus metrics ([`metrics`]).
//!
//! [`Registry::open`] is the public constructor: `ferry up` mounts its
//! [`Registry::router`] on the region's registry listener, `ferry registry
//! serve` runs it standalone, and other crates' tests start one in-process.
// `unsafe` is denied everywhere but `storage/sys.rs` (sync_file_range,
// mmap and mincore).
#![deny(unsafe_code)]

mod api;
pub mod auth;
pub mod browse;
pub mod digest;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gc;
mod gc_schedule;
pub mod manifest;
pub mod metrics;
pub mod names;
mod repo;
mod serve;
pub mod storage;
pub mod webhooks;

pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport};
pub use serve::{ListenerLimits, check_exposure, serve, tls_acceptor};

use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::events::EventBus;
use ferry_core::registry_spec::RegistrySpec;
use tokio_util::sync::CancellationToken;

use crate::repo::Repos;
use crate::storage::{FsStorage, Storage};

/// What a registry needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region it serves (events carry it).
    pub region: String,
    /// Its own directory (`<region data dir>/registry`).
    pub data_dir: PathBuf,
    /// Users, robots, TLS and webhooks.
    pub spec: RegistrySpec,
}

/// A running registry; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    region: String,
    repos: Repos,
    events: EventBus,
    metrics: metrics::Metrics,
    auth: Option<auth::Auth>,
    /// Held shared by manifest writes, exclusively by in-process GC while it
    /// re-checks and removes one blob, so a manifest never commits against a
    /// blob being removed.
    gc_guard: tokio::sync::RwLock<()>,
    /// Serialises GC runs.
    gc_running: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Opens (creating) the registry's storage under `config.data_dir`,
    /// registers its metrics into `metrics` (under the `registry` prefix) and
    /// prepares auth. Start [`Registry::run_background`] for webhooks.
    pub fn open(
        config: Config,
        events: EventBus,
        metrics: &mut prometheus_client::registry::Registry,
    ) -> Result<Self> {
        let storage: Arc<dyn Storage> = Arc::new(FsStorage::open(config.data_dir.join("store"))?);
        Self::with_storage(config, storage, events, metrics)
    }

    /// Like [`Registry::open`] on any [`Storage`].
    pub fn with_storage(
        config: Config,
        storage: Arc<dyn Storage>,
        events: EventBus,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| Error::io(&config.data_dir, e))?;
        let auth = auth::Auth::from_spec(&config.spec, &config.data_dir)?;
        let metrics = metrics::Metrics::register(registry.sub_registry_with_prefix("registry"));
        let inner = Inner {
            region: config.region,
            repos: Repos { storage },
            events,
            metrics,
            auth,
            gc_guard: tokio::sync::RwLock::new(()),
            gc_running: tokio::sync::Mutex::new(()),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The HTTP routes: `/v2/...` and the token endpoint `/token`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The storage behind this registry.
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.inner.repos.storage.clone()
    }

    /// Background work until `shutdown`: the storage gauges' first scan and
    /// webhook delivery for `webhooks` (log under `log_dir`).
    pub fn run_background(
        &self,
        webhooks: Vec<ferry_core::registry_spec::RegistryWebhook>,
        log_dir: PathBuf,
        shutdown: CancellationToken,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.inner.metrics.rescan(&me.inner.repos).await {
                tracing::warn!(error = %e, "registry: cannot scan storage for metrics");
            }
        });
        if !webhooks.is_empty() {
            let rx = self.inner.events.subscribe();
            let dispatcher =
                webhooks::Dispatcher::new(self.inner.region.clone(), webhooks, log_dir);
            tokio::spawn(dispatcher.run(rx, shutdown));
        }
    }

    /// Everything a region (or `ferry registry serve`) needs in one call:
    /// starts background work (webhooks, periodic GC when `spec.gc` is set)
    /// and returns the server future for `listener`,
    /// over TLS when `config.spec.tls` says so, under the default
    /// [`ListenerLimits`]. Bad TLS files, and a registry without accounts on
    /// a non-loopback address ([`check_exposure`]), fail here, before
    /// anything serves.
    pub fn serve_on(
        &self,
        config: &Config,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> Result<impl Future<Output = ()> + Send + 'static> {
        self.serve_with_limits(config, listener, ListenerLimits::default(), shutdown)
    }

    /// [`Registry::serve_on`] with the listener's timeouts and connection
    /// cap given.
    pub fn serve_with_limits(
        &self,
        config: &Config,
        listener: tokio::net::TcpListener,
        limits: ListenerLimits,
        shutdown: CancellationToken,
    ) -> Result<impl Future<Output = ()> + Send + 'static> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("registry listener address: {e}")))?;
        check_exposure(addr, &config.spec)?;
        let tls = match &config.spec.tls {
            Some(t) => Some(tls_acceptor(&t.cert_file, &t.key_file)?),
            None => None,
        };
        self.run_background(
            config.spec.webhooks.clone(),
            config.data_dir.clone(),
            shutdown.clone(),
        );
        if let Some(gc) = &config.spec.gc {
            tokio::spawn(gc_schedule::run(self.clone(), gc.clone(), shutdown.clone()));
        }
        let app = self.router();
        Ok(serve(listener, app, tls, limits, shutdown))
    }

    /// Runs garbage collection online, alongside requests; one run at a
    /// time (an API call waits for the periodic run, and the other way round).
    pub async fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let _one = self.inner.gc_running.lock().await;
        let started = std::time::Instant::now();
        let result = gc::run(&self.inner.repos, options, Some(&self.inner.gc_guard)).await;
        if options.dry_run {
            return result;
        }
        self.inner
            .metrics
            .gc_run(started.elapsed(), result.as_ref().ok());
        let report = result?;
        self.inner.metrics.rescan(&self.inner.repos).await?;
        Ok(report)
    }
}

/// Runs GC on a registry directory without a server (`ferry registry gc`);
/// a server may be running on the same directory meanwhile.
pub async fn gc_dir(data_dir: &std::path::Path, options: &GcOptions) -> Result<GcReport> {
    let storage: Arc<dyn Storage> = Arc::new(FsStorage::open(data_dir.join("store"))?);
    gc::run(&Repos { storage }, options, None).await
}
