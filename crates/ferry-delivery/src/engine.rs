//! The delivery engine of one ferry process: every application of the
//! topology across every region. Regions attach their [`Target`] and
//! registry address; a background loop fetches sources (poll interval,
//! webhook wake-ups, back-off on failure), reconciles every application in
//! dependency order and records the outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::events::{Event, EventBus};
use ferry_core::sync::MutexExt;
use ferry_core::topology::Topology;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::builder::{BuildKey, BuildState, ImageBuilder};
use crate::error::{Error, Result};
use crate::history::{AppRecord, Store};
use crate::images::ImageCheck;
use crate::metrics::Metrics;
use crate::pipeline::Run;
use crate::source::{GitCache, Refs, normalise_url};
use crate::status::AppStatus;
use crate::target::Target;

/// How the engine behaves (runtime flags, not desired state).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where mirrors, records and runs are kept.
    pub data_dir: PathBuf,
    /// How often every repository is fetched without a webhook.
    pub poll_interval: Duration,
    /// How often live objects are compared with git (drift detection).
    pub resync_interval: Duration,
    /// Shared secret for git webhooks (HMAC for GitHub and Gitea, token for
    /// GitLab); without it webhooks are accepted unsigned.
    pub webhook_secret: Option<String>,
    /// CloudEvents sinks notified of sync and pipeline outcomes.
    pub notify: Vec<String>,
}

impl EngineConfig {
    /// Defaults: poll every 60 s, compare every 2 s.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            poll_interval: Duration::from_secs(60),
            resync_interval: Duration::from_secs(2),
            webhook_secret: None,
            notify: Vec::new(),
        }
    }
}

/// A region the engine deploys to.
#[derive(Debug, Clone)]
pub struct RegionTarget {
    pub target: Arc<dyn Target>,
    /// `host:port` of the region's registry, used in rewritten image refs.
    pub registry: String,
}

#[derive(Debug, Default)]
pub(crate) struct RepoState {
    pub refs: Option<Refs>,
    pub last_fetch: Option<Instant>,
    pub error: Option<String>,
    pub failures: u32,
    pub next_try: Option<Instant>,
    pub want_fetch: bool,
    /// When each commit was first seen (for commit-to-serving latency).
    pub seen: BTreeMap<String, Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub regions: BTreeMap<String, RegionTarget>,
    /// Environments that run elsewhere than their region's target.
    pub env_targets: BTreeMap<String, Arc<dyn Target>>,
    pub repos: BTreeMap<String, RepoState>,
    pub status: BTreeMap<String, AppStatus>,
    pub records: BTreeMap<String, AppRecord>,
    /// `(app, env)` pairs asked to sync by hand (env empty: all).
    pub manual: BTreeSet<(String, String)>,
    pub runs: Vec<Run>,
    /// `(app, env, commit)` whose commit-to-serving latency was recorded.
    pub served: BTreeSet<(String, String, String)>,
    /// Pipeline builds started or finished by this process.
    pub builds: BTreeMap<BuildKey, BuildState>,
    /// Which commit names each pipeline image, per (url, pipeline, commit).
    pub sources: crate::image_tags::SourceCache,
    /// Tags per (registry, image) for image policies, with when they were listed.
    pub tags: BTreeMap<(String, String), (Instant, Vec<String>)>,
    /// Per region, logins to its registry for targets that pull themselves.
    pub pull: BTreeMap<String, Arc<dyn crate::pull_access::PullCredentials>>,
}

pub(crate) struct Inner {
    pub cfg: EngineConfig,
    pub topology: Arc<Topology>,
    pub cache: GitCache,
    pub store: Store,
    pub state: Mutex<State>,
    pub wake: Notify,
    pub images: Arc<dyn ImageCheck>,
    pub metrics: Metrics,
    pub events: EventBus,
    pub renders: Mutex<crate::reconcile::RenderCache>,
    pub builder: std::sync::OnceLock<Arc<dyn ImageBuilder>>,
    /// One build at a time: builds are CPU- and disk-bound.
    pub build_slots: tokio::sync::Semaphore,
    /// Recent git webhook deliveries, so a replayed one is ignored.
    pub deliveries: Mutex<crate::webhook::Deliveries>,
    /// The last pass met an unreachable target: the next one comes after
    /// [`UNREACHABLE_RETRY`] rather than the resync interval.
    pub retry_soon: std::sync::atomic::AtomicBool,
    /// The name of each application whose status or record changed (the
    /// web UI's live updates; see [`Engine::changes`]).
    pub changed: tokio::sync::broadcast::Sender<Arc<str>>,
    /// Asks regions run by other processes (`ferry up --region`).
    pub remote: std::sync::OnceLock<Arc<dyn crate::remote::RemoteRegions>>,
    /// Canary rollouts and each region's gateway (`crate::rollout`).
    pub rollouts: crate::rollout::Rollouts,
    /// Writes `runs.json` outside the state lock (`crate::runs`).
    pub runs_file: crate::runs::RunsFile,
    /// Bounds on live diffs asked for by readers (`crate::diff_limit`).
    pub diffs: crate::diff_limit::DiffLimiter,
}

/// How soon a pass follows one that met an unreachable target, so a sync
/// resumes within about a second of the target's return.
pub(crate) const UNREACHABLE_RETRY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.cfg.data_dir)
            .finish_non_exhaustive()
    }
}

/// A cheap-to-clone handle on the engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// Creates an engine for `topology`; call [`Engine::add_region`] for each
    /// region, then [`Engine::start`].
    pub fn new(
        cfg: EngineConfig,
        topology: Arc<Topology>,
        events: EventBus,
        images: Arc<dyn ImageCheck>,
    ) -> Result<Self> {
        let store = Store::open(&cfg.data_dir.join("apps"))?;
        let mut records = BTreeMap::new();
        for app in &topology.applications {
            records.insert(app.metadata.name.clone(), store.load(&app.metadata.name)?);
        }
        let cache = GitCache::new(&cfg.data_dir.join("git"));
        let runs = crate::runs::load(&cfg.data_dir);
        let state = State {
            records,
            runs,
            ..State::default()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                topology,
                cache,
                store,
                state: Mutex::new(state),
                wake: Notify::new(),
                images,
                metrics: Metrics::default(),
                events,
                renders: Mutex::new(Default::default()),
                builder: std::sync::OnceLock::new(),
                build_slots: tokio::sync::Semaphore::new(1),
                deliveries: Mutex::new(crate::webhook::Deliveries::new(1000)),
                retry_soon: Default::default(),
                changed: tokio::sync::broadcast::channel(4096).0,
                remote: std::sync::OnceLock::new(),
                rollouts: Default::default(),
                runs_file: Default::default(),
                diffs: crate::diff_limit::DiffLimiter::new(Default::default()),
            }),
        })
    }

    /// Lets pipelines build their images with `builder` (without one, the
    /// engine only waits for images pushed by someone else). Set once.
    pub fn set_builder(&self, builder: Arc<dyn ImageBuilder>) {
        if self.inner.builder.set(builder).is_ok() {
            self.inner.wake.notify_one();
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock_or_recover()
    }

    /// Names of applications as their status or stored record changes (a
    /// subscriber that lags is told how many it missed and must treat every
    /// application as changed).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.inner.changed.subscribe()
    }

    /// Tells [`Engine::changes`] subscribers that `app` changed.
    pub(crate) fn changed(&self, app: &str) {
        let _ = self.inner.changed.send(Arc::from(app));
    }

    /// The engine's metrics, to register in a region's registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Runs the reconcile loop until `shutdown`; image events wake it.
    pub fn start(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        let mut events = self.inner.events.subscribe();
        let waker = self.clone();
        let stop = shutdown.clone();
        crate::rollout::driver::spawn(self.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    e = events.recv() => match e {
                        Ok(ev) => if matches!(&*ev, Event::ImagePushed { .. } | Event::ImageReplicated { .. } | Event::ImageDeleted { .. }) {
                            waker.clear_tag_cache();
                            waker.inner.wake.notify_one();
                        },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => waker.inner.wake.notify_one(),
                        Err(_) => return,
                    },
                }
            }
        });
        tokio::spawn(async move {
            loop {
                engine.pass().await;
                let mut pause = engine.inner.cfg.resync_interval;
                if engine
                    .inner
                    .retry_soon
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    pause = pause.min(UNREACHABLE_RETRY);
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = engine.inner.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        })
    }

    /// Asks for an immediate fetch of every repository matching `url`
    /// (normalised); returns the applications using them.
    pub fn trigger_repo(&self, urls: &[String]) -> Vec<String> {
        let mut apps = Vec::new();
        let mut st = self.lock();
        for app in &self.inner.topology.applications {
            let url = normalise_url(&app.spec.source.repo_url);
            if urls.iter().any(|u| same_repo(u, &url)) {
                apps.push(app.metadata.name.clone());
                let repo = st.repos.entry(url).or_default();
                repo.want_fetch = true;
                repo.next_try = None;
            }
        }
        drop(st);
        if !apps.is_empty() {
            self.inner.wake.notify_one();
        }
        apps
    }

    /// Status of every application.
    pub fn list(&self) -> Vec<AppStatus> {
        let st = self.lock();
        self.inner
            .topology
            .applications
            .iter()
            .map(|a| {
                st.status
                    .get(&a.metadata.name)
                    .cloned()
                    .unwrap_or_else(|| crate::reconcile::empty_status(a))
            })
            .collect()
    }

    /// Status of one application.
    pub fn get(&self, app: &str) -> Result<AppStatus> {
        let a = self.app(app)?;
        Ok(self
            .lock()
            .status
            .get(app)
            .cloned()
            .unwrap_or_else(|| crate::reconcile::empty_status(a)))
    }

    /// Sync history of one application.
    pub fn history(&self, app: &str) -> Result<Vec<crate::history::HistoryEntry>> {
        self.app(app)?;
        Ok(self
            .lock()
            .records
            .get(app)
            .map(|r| r.history.clone())
            .unwrap_or_default())
    }

    /// Pipeline runs, newest last.
    pub fn runs(&self) -> Vec<Run> {
        self.lock().runs.clone()
    }

    /// Puts `status` in as the application's current status and tells
    /// [`Engine::changes`] subscribers, for measurements of what reads
    /// statuses with many synthetic applications (the web UI's benchmark).
    #[cfg(feature = "synthetic")]
    pub fn put_status(&self, status: AppStatus) {
        let name = status.name.clone();
        self.lock().status.insert(name.clone(), status);
        self.changed(&name);
    }

    pub(crate) fn app(&self, name: &str) -> Result<&ferry_core::app_spec::Application> {
        self.inner
            .topology
            .applications
            .iter()
            .find(|a| a.metadata.name == name)
            .ok_or_else(|| Error::NotFound {
                kind: "application",
                name: name.to_string(),
            })
    }
}

/// True when two repository URLs name the same repository (ignoring
/// scheme, credentials, a trailing `.git` and `/`).
pub fn same_repo(a: &str, b: &str) -> bool {
    fn key(u: &str) -> String {
        let u = u.split_once("://").map_or(u, |(_, r)| r);
        let u = u.rsplit_once('@').map_or(u, |(_, r)| r);
        let u = u.trim_end_matches('/').trim_end_matches(".git");
        u.replace(':', "/").to_ascii_lowercase()
    }
    key(a) == key(b) || (a.starts_with('/') && normalise_url(a) == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_compare_loosely() {
        assert!(same_repo(
            "https://git.example/org/r.git",
            "ssh://git@git.example/org/r"
        ));
        assert!(same_repo(
            "git@git.example:org/r.git",
            "https://git.example/org/r"
        ));
        assert!(same_repo("file:///srv/r", "/srv/r"));
        assert!(!same_repo(
            "https://git.example/org/r",
            "https://git.example/org/s"
        ));
    }
}
