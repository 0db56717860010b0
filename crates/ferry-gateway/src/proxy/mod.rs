//! The gateway as a running thing: the current route table and Service
//! snapshot (both swapped atomically, so in-flight requests finish on the
//! configuration they started with), upstream clients, per-destination
//! load-balancing state and metrics. `server` accepts connections
//! (`downstream` serves plain HTTP/1.1 ones), `handler` runs the request
//! pipeline (`outbound` builds what it sends, `upgrade` splices upgraded
//! connections, `access` records metrics and the access log), `upstream`
//! picks endpoints and retries (`resolve` builds their authorities once per
//! Service snapshot), `respond` builds local answers; `types` holds what
//! several of them share.
//!
//! **Futures on the request path.** The steps of one request (`Conn::exchange`,
//! `handle_raw`, `route`, `send`, `tries`, `try_once`) are functions that
//! return an `async move` block rather than `async fn`s: an `async fn` copies
//! each argument into a local of its own, so its future holds the request
//! twice and every step copies it once more. The block uses the captured
//! arguments where they are: the per-request future that is boxed went from
//! 3,056 to 1,696 bytes, `send`'s from 2,400 to 1,960, and a proxied request
//! calls `memmove` 27 times (7.9 KB) instead of 38 (10.7 KB).

mod access;
mod client;
mod downstream;
#[doc(hidden)]
pub mod fuzzing;
mod h1;
mod handler;
mod outbound;
mod resolve;
mod respond;
mod server;
mod types;
mod upgrade;
mod upstream;

pub use client::HostDialer;
pub(crate) use resolve::Resolved;
pub use types::{Body, BoxError, ConnInfo, Direction};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_core::error::Problems;
use ferry_core::mesh::{ServiceSnapshot, SharedDialer};
use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use tokio::sync::watch;

use crate::lb::Cluster;
use crate::metrics::Metrics;
use crate::pod_requests::PodRequests;
use crate::table::{Destination, RouteTable};

/// Tunables of the proxy (runtime behaviour, not routing config).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body buffered for mirroring or retries; bigger bodies
    /// are streamed and the mirror is skipped (and counted).
    pub buffer_limit: usize,
    /// Upstream connect timeout when no DestinationRule sets one.
    pub connect_timeout: Duration,
    /// How long an HTTP/1.1 keep-alive connection waits for its next request
    /// before it is parked (its buffers freed; see `downstream`): at least this
    /// long, at most twice.
    pub park_after: Duration,
    /// How long a client may take to send a whole request head once it has
    /// started one (HTTP/1.1); then the connection is closed, so a client
    /// trickling bytes cannot hold it forever (hyper's default).
    pub header_timeout: Duration,
    /// Requests the activator holds per Knative revision with no ready pod;
    /// more are answered 503 with `Retry-After`.
    pub activator_queue: usize,
    /// How long the activator holds a request before answering 503.
    pub activator_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            buffer_limit: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
            park_after: downstream::PARK_AFTER,
            header_timeout: Duration::from_secs(30),
            activator_queue: 1000,
            activator_timeout: Duration::from_secs(60),
        }
    }
}

/// The gateway: cheap to clone, shared by the north-south listener and the
/// mesh handler.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub table: ArcSwap<RouteTable>,
    /// The Service snapshot in force, with its upstream authorities.
    pub services: ArcSwap<resolve::Resolved>,
    pub objects: Mutex<Vec<Arc<StoredObject>>>,
    /// Per destination (looked up per request: foldhash, not SipHash).
    pub clusters: Mutex<HashMap<Destination, Arc<Cluster>, foldhash::fast::RandomState>>,
    pub clients: client::Clients,
    /// Idle connections of the inline HTTP/1.1 exchange (`h1`).
    pub pool: Arc<h1::Pool>,
    pub targets: Arc<client::Targets>,
    pub metrics: Metrics,
    /// Requests answered per pod (the HPA's `http_requests_per_second`).
    pub requests: PodRequests,
    /// Canary splits in force and their counters (`crate::canary`).
    pub splits: crate::canary::Splits,
    pub config: GatewayConfig,
    pub secrets: Mutex<Option<Arc<dyn crate::tls::SecretSource>>>,
    pub tls: ArcSwap<Option<Arc<rustls::ServerConfig>>>,
    /// Holds requests for Knative revisions at zero (`activator`).
    pub activator: crate::activator::Activator,
}

impl Gateway {
    /// A gateway dialing through `dialer`, following `services`. Must be
    /// called inside a tokio runtime (it spawns the snapshot follower).
    pub fn new(
        dialer: SharedDialer,
        mut services: watch::Receiver<ServiceSnapshot>,
        config: GatewayConfig,
    ) -> Self {
        let targets = Arc::new(client::Targets::default());
        let connector = client::Connector {
            dialer,
            targets: targets.clone(),
            connect_timeout: config.connect_timeout,
        };
        let clients = client::Clients::new(connector);
        let pool = Arc::new(h1::Pool::new(128, Duration::from_secs(60)));
        let requests = PodRequests::default();
        let initial = resolve::Resolved::new(
            Arc::new(services.borrow_and_update().clone()),
            &targets,
            &pool,
        )
        .count_in(&requests);
        let activator =
            crate::activator::Activator::new(config.activator_queue, config.activator_timeout);
        let inner = Arc::new(Inner {
            table: ArcSwap::from_pointee(RouteTable::default()),
            services: ArcSwap::from_pointee(initial),
            objects: Mutex::new(Vec::new()),
            clusters: Mutex::new(HashMap::default()),
            clients,
            pool,
            targets,
            metrics: Metrics::default(),
            requests,
            splits: Default::default(),
            config,
            secrets: Mutex::new(None),
            tls: ArcSwap::from_pointee(None),
            activator,
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while services.changed().await.is_ok() {
                let snap = services.borrow_and_update().clone();
                let Some(inner) = weak.upgrade() else { break };
                let resolved = resolve::Resolved::new(Arc::new(snap), &inner.targets, &inner.pool)
                    .count_in(&inner.requests);
                inner.services.store(Arc::new(resolved));
                inner.activator.services_changed();
            }
        });
        Self { inner }
    }

    /// The gateway's metrics (register them into the region's registry).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Requests answered per pod, for the runtime's HorizontalPodAutoscalers.
    pub fn request_counts(&self) -> ferry_core::pod_load::SharedPodRequestCounts {
        Arc::new(self.inner.requests.clone())
    }

    /// Checks a complete proposed object set without applying it.
    pub fn validate(&self, objects: &[Arc<StoredObject>]) -> Result<(), Problems> {
        crate::compile::compile(objects).map(|_| ())
    }

    /// Compiles and swaps in a complete object set; on error the previous
    /// routing stays in force.
    pub fn apply(&self, objects: Vec<Arc<StoredObject>>) -> Result<(), Problems> {
        let mut table = crate::compile::compile(&objects)?;
        crate::serving::merge(&mut table, &self.inner.activator.snapshot.load());
        self.inner.splits.overlay(&mut table);
        // Destination state follows the new policies (limits, outlier settings).
        self.inner.clusters.lock_or_recover().clear();
        self.inner.table.store(Arc::new(table));
        *self.inner.objects.lock_or_recover() = objects;
        self.reload_tls();
        Ok(())
    }

    /// Where TLS Secrets are read from; reloads certificates now and every
    /// 10 s after (Secrets may be applied after the routes naming them).
    pub fn set_secret_source(&self, source: Arc<dyn crate::tls::SecretSource>) {
        *self.inner.secrets.lock_or_recover() = Some(source);
        self.reload_tls();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let Some(inner) = weak.upgrade() else { break };
                Gateway { inner }.reload_tls();
            }
        });
    }

    /// Re-reads the TLS Secrets the table names (after a Secret changed).
    pub fn reload_tls(&self) {
        let source = self.inner.secrets.lock_or_recover().clone();
        let table = self.inner.table.load();
        let cfg = source.and_then(|s| crate::tls::server_config(&table.tls, s.as_ref()));
        self.inner.tls.store(Arc::new(cfg));
    }

    /// The table in force.
    pub fn table(&self) -> Arc<RouteTable> {
        self.inner.table.load_full()
    }

    /// The Service snapshot in force.
    pub fn services(&self) -> Arc<ServiceSnapshot> {
        self.inner.services.load().snapshot.clone()
    }
}
