//! ferry's web UI, served under `/ui` by every region's API listener.
//!
//! Server-rendered HTML (every asset compiled into the binary, no CDN, a
//! little vanilla JavaScript for live updates and confirmations) behind the
//! API's tokens: `/ui/login` exchanges a token for a server-side
//! [`session`] whose identifier travels in an HttpOnly, SameSite=Strict
//! cookie ([`cookie`]; Secure over TLS), and every form carries the
//! session's [`csrf`] token. A request without a session is sent to the
//! login page (303). What a page offers and what a POST may do are decided
//! by ferry-auth's route policy for the API route the action stands for
//! (`POST /api/v1/apps/{name}/rollback` for the rollback button), so the
//! UI never grants more than the token would through the API.
//!
//! The API's browser guard (ferry-api `guard.rs`) still checks the Host of
//! every `/ui` request; its `/api/v1` rules (JSON-only mutations) are not
//! the UI's: a UI POST must be same-origin (`Origin`, `Sec-Fetch-Site`) and
//! carry the CSRF token.
//!
//! Data comes from the delivery engine's statuses and histories and the
//! region's runtime (ReplicaSets and Pods below a Deployment; Knative
//! Services and Revisions with their last cold start); pages are
//! rendered from those structures in one pass ([`view`], [`pages`]). Live
//! updates are server-sent events ([`live`]) driven by the engine's change
//! notifications and the region's other sources ([`live_sources`]: the
//! runtime's objects, remote regions' probes, replication, the gateway's
//! routes); a stream sends only the fragments that changed ([`patches`]);
//! `Last-Event-ID` resumes.
#![forbid(unsafe_code)]

pub mod cookie;
pub mod csrf;
pub mod html;
pub mod live;
pub mod live_sources;
mod load;
mod load_delivery;
pub mod pages;
pub mod patches;
pub mod regions;
mod routes;
pub mod session;
pub mod traffic;
pub mod tree;
pub mod view;

#[cfg(any(test, feature = "synthetic"))]
pub mod testdata;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ferry_core::topology::Topology;

pub use routes::router;

/// Errors of the UI, each shown as an HTML page with its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read random bytes from the operating system: {0}")]
    Random(String),
    #[error(transparent)]
    Delivery(#[from] ferry_delivery::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "the form's CSRF token is missing or does not belong to this session; reload the page and try again"
    )]
    Csrf,
    #[error("{0}")]
    CrossOrigin(String),
    #[error("cannot read the registry: {0}")]
    Registry(String),
}

impl Error {
    /// The HTTP status the error page is sent with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Error::Random(_) => S::INTERNAL_SERVER_ERROR,
            Error::Delivery(ferry_delivery::Error::NotFound { .. }) | Error::NotFound(_) => {
                S::NOT_FOUND
            }
            Error::Delivery(ferry_delivery::Error::Conflict(_)) => S::CONFLICT,
            Error::Delivery(ferry_delivery::Error::DiffBusy { .. }) => S::TOO_MANY_REQUESTS,
            Error::Delivery(_) | Error::Registry(_) => S::INTERNAL_SERVER_ERROR,
            Error::Forbidden(_) | Error::Csrf | Error::CrossOrigin(_) => S::FORBIDDEN,
        }
    }
}

/// What a region's UI is built from.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// The region serving the UI.
    pub region: String,
    pub topology: Arc<Topology>,
    /// Each region's API address (`host:port`), for the overview.
    pub endpoints: BTreeMap<String, String>,
    /// The region's tokens and audit log.
    pub auth: Arc<ferry_auth::Auth>,
    /// The process's delivery engine.
    pub engine: ferry_delivery::Engine,
    /// The region's runtime (trees of environments in this region show
    /// ReplicaSets and Pods); `None` shows applied objects only.
    pub runtime: Option<ferry_runtime::Runtime>,
    pub sessions: session::Limits,
    /// This region's registry, for the registry browser (`None`: none).
    pub registry: Option<ferry_registry::Registry>,
    /// This region's replication engine: which regions hold an image.
    pub replication: Option<ferry_replication::Engine>,
    /// The region's gateway, for the traffic page; `None` shows no routes.
    pub traffic: Option<traffic::TrafficSource>,
    /// What probes of the regions other processes run found (`None`: not
    /// probed; the overview shows them as unknown).
    pub regions: Option<Arc<regions::RegionStates>>,
    /// The region's event bus: its image events make the registry pages
    /// follow pushes live (`None`: they show what was there at load).
    pub events: Option<ferry_core::events::EventBus>,
}

/// One region's UI: a cheap-to-clone handle.
#[derive(Debug, Clone)]
pub struct Ui {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: UiConfig,
    sessions: Mutex<session::SessionStore>,
    changes: Arc<live::Changes>,
    /// Cancelled when the region stops: live streams end, so the API
    /// listener's graceful drain does not wait for open tabs.
    stop: tokio_util::sync::CancellationToken,
    /// The traffic page's samples of the gateway's metrics.
    sampler: Option<Arc<traffic::Sampler>>,
}

impl Ui {
    /// A UI for `cfg`; [`Ui::start`] makes its pages follow the engine.
    pub fn new(cfg: UiConfig) -> Result<Ui, Error> {
        let sessions = Mutex::new(session::SessionStore::new(cfg.sessions));
        let changes = Arc::new(live::Changes::new(session::random_id()?));
        let sampler = cfg
            .traffic
            .as_ref()
            .map(|t| Arc::new(traffic::Sampler::new(t)));
        Ok(Ui {
            inner: Arc::new(Inner {
                cfg,
                sessions,
                changes,
                stop: Default::default(),
                sampler,
            }),
        })
    }

    /// Follows the engine's changes until `shutdown`, for live updates;
    /// then ends every live stream. Samples the gateway's metrics too.
    pub fn start(&self, shutdown: tokio_util::sync::CancellationToken) {
        if let (Some(s), Some(t)) = (&self.inner.sampler, &self.inner.cfg.traffic) {
            tokio::spawn(traffic::run(s.clone(), t.every, shutdown.clone()));
        }
        tokio::spawn(live_sources::run(self.clone(), shutdown.clone()));
        let rx = self.inner.cfg.engine.changes();
        let (changes, stop) = (self.inner.changes.clone(), self.inner.stop.clone());
        tokio::spawn(async move {
            live::follow(rx, changes, shutdown).await;
            stop.cancel();
        });
    }

    fn cfg(&self) -> &UiConfig {
        &self.inner.cfg
    }
}
