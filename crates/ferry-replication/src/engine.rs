//! The replication engine of one region: an event listener that queues a
//! copy the moment a matching image is pushed, a reconcile loop that finds
//! what events missed (including images pushed before a rule existed),
//! and workers that drain the persisted queue with retries and backoff.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::events::{Event, EventBus};
use ferry_core::replication_spec::ReplicationRule;
use ferry_image::client::UploadSession;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::copy::{SessionStore, copy_image};
use crate::error::{Error, Result};
use crate::queue::{Op, Queue, Task};
use crate::rule::{Rule, owned_by};
use crate::status::{Metrics, RuleStatus, Stats};

/// What an engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The region this engine runs in.
    pub region: String,
    /// Its state (`<region data dir>/replication`).
    pub data_dir: PathBuf,
    /// Every rule of the topology; the engine runs those it owns
    /// ([`owned_by`]).
    pub rules: Vec<ReplicationRule>,
    /// Region name → registry address.
    pub registries: BTreeMap<String, String>,
    /// Region name → the PEM CA its registry's certificate chains to, for
    /// regions served by other processes (`spec.endpoints.caFile`).
    pub cas: BTreeMap<String, Vec<u8>>,
    /// True for the topology's first region (runs URL-to-URL rules).
    pub first_region: bool,
    pub events: EventBus,
    pub shutdown: CancellationToken,
    /// Tasks worked on at once.
    pub workers: usize,
    /// Longest wait between retries of a failing task.
    pub max_backoff: Duration,
    /// Overrides every rule's reconcile interval (tests).
    pub reconcile_interval: Option<Duration>,
}

impl EngineConfig {
    /// A config with defaults: 4 workers, backoff up to 30 s.
    pub fn new(
        region: &str,
        data_dir: PathBuf,
        rules: Vec<ReplicationRule>,
        registries: BTreeMap<String, String>,
        events: EventBus,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            region: region.into(),
            data_dir,
            rules,
            registries,
            cas: BTreeMap::new(),
            first_region: false,
            events,
            shutdown,
            workers: 4,
            max_backoff: Duration::from_secs(30),
            reconcile_interval: None,
        }
    }
}

/// A running engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    region: String,
    rules: BTreeMap<String, Rule>,
    queue: Arc<Queue>,
    stats: Stats,
    events: EventBus,
    wake: Notify,
    reconcile: Notify,
    max_backoff: Duration,
    interval: Duration,
}

impl Engine {
    /// Compiles the rules this region owns, loads the queue and starts the
    /// listener, reconcile loop and workers (on the current tokio runtime).
    pub fn start(
        cfg: EngineConfig,
        metrics: &mut prometheus_client::registry::Registry,
    ) -> Result<Self> {
        let mut rules = BTreeMap::new();
        for r in cfg
            .rules
            .iter()
            .filter(|r| owned_by(r, &cfg.region, cfg.first_region))
        {
            let rule = Rule::compile_trusting(r, &cfg.registries, &cfg.cas)?;
            rules.insert(rule.name.clone(), rule);
        }
        let queue = Arc::new(Queue::open(&cfg.data_dir.join("queue"))?);
        let stats = Stats::new(
            Metrics::register(metrics),
            rules
                .values()
                .map(|r| (r.name.clone(), r.source.name.clone(), r.target.name.clone())),
        );
        let interval = cfg.reconcile_interval.unwrap_or_else(|| {
            rules
                .values()
                .map(|r| r.interval)
                .min()
                .unwrap_or(crate::rule::DEFAULT_INTERVAL)
        });
        let engine = Self {
            inner: Arc::new(Inner {
                region: cfg.region.clone(),
                rules,
                queue,
                stats,
                events: cfg.events.clone(),
                wake: Notify::new(),
                reconcile: Notify::new(),
                max_backoff: cfg.max_backoff,
                interval,
            }),
        };
        if engine.inner.rules.is_empty() {
            return Ok(engine);
        }
        tracing::info!(region = %cfg.region, rules = ?engine.inner.rules.keys().collect::<Vec<_>>(), "replication engine started");
        let shutdown = cfg.shutdown.clone();
        let rx = cfg.events.subscribe();
        tokio::spawn(engine.clone().listen(rx, shutdown.clone()));
        tokio::spawn(engine.clone().reconcile_loop(shutdown.clone()));
        for _ in 0..cfg.workers.max(1) {
            tokio::spawn(engine.clone().work(shutdown.clone()));
        }
        // Keep the lag and queue-depth gauges fresh between API calls.
        let gauges = engine.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => { gauges.status(); }
                }
            }
        });
        Ok(engine)
    }

    /// The region this engine runs in.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Status of every rule this engine runs.
    pub fn status(&self) -> Vec<RuleStatus> {
        let q = self.inner.queue.clone();
        self.inner.stats.snapshot(|r| q.pending(r))
    }

    /// The rules of this engine that copy `repository:tag`, each with its
    /// target's name (a region, or a URL).
    pub fn targets_of(&self, repository: &str, tag: &str) -> Vec<(String, String)> {
        self.inner
            .rules
            .values()
            .filter(|r| r.matches_repo(repository) && r.matches_tag(tag))
            .map(|r| (r.name.clone(), r.target.name.clone()))
            .collect()
    }

    /// Tasks waiting or in flight (which images are not yet where a rule
    /// sends them).
    pub fn pending_tasks(&self) -> Vec<crate::queue::Task> {
        self.inner.queue.tasks()
    }

    /// Starts a reconcile pass now.
    pub fn reconcile_now(&self) {
        self.inner.reconcile.notify_one();
    }

    /// Queues a copy or delete (as an event would).
    pub fn enqueue(&self, task: Task) -> Result<()> {
        self.inner.queue.push(task)?;
        self.inner.wake.notify_one();
        Ok(())
    }

    // === impl Engine: event listener ===

    async fn listen(
        self,
        mut rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                e = rx.recv() => e,
            };
            match event {
                Ok(e) => self.on_event(&e),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "replication fell behind the event bus; reconciling"
                    );
                    self.reconcile_now();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn on_event(&self, event: &Event) {
        let (region, repo, reference, op) = match event {
            Event::ImagePushed {
                region,
                repository,
                tag,
                digest,
            } => (
                region,
                repository,
                tag.clone().unwrap_or_else(|| digest.clone()),
                Op::Copy,
            ),
            Event::ImageDeleted {
                region,
                repository,
                reference,
            } => (region, repository, reference.clone(), Op::Delete),
            _ => return,
        };
        let is_tag = !reference.contains(':');
        for rule in self.inner.rules.values() {
            let from_here = rule.source.region.as_deref() == Some(region.as_str());
            let wanted = rule.matches_repo(repo)
                && if is_tag {
                    rule.matches_tag(&reference)
                } else {
                    !rule.has_tag_filter()
                };
            if !from_here || !wanted || (op == Op::Delete && !rule.deletes) {
                continue;
            }
            if let Err(e) = self.enqueue(Task::new(&rule.name, repo, &reference, op)) {
                tracing::error!(rule = %rule.name, error = %e, "cannot queue replication task");
            }
        }
    }

    // === impl Engine: reconcile ===

    async fn reconcile_loop(self, shutdown: CancellationToken) {
        loop {
            for rule in self.inner.rules.values() {
                let result = self.reconcile_rule(rule).await;
                if let Err(e) = &result {
                    tracing::warn!(rule = %rule.name, error = %e, "reconcile pass failed");
                }
                self.inner
                    .stats
                    .reconciled(&rule.name, result.err().map(|e| e.to_string()).as_deref());
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.inner.interval) => {}
                _ = self.inner.reconcile.notified() => {}
            }
        }
    }

    async fn reconcile_rule(&self, rule: &Rule) -> Result<()> {
        let (src, dst) = (&rule.source.client, &rule.target.client);
        for repo in src
            .catalog()
            .await?
            .into_iter()
            .filter(|r| rule.matches_repo(r))
        {
            let tags: Vec<String> = src
                .tags(&repo)
                .await?
                .into_iter()
                .filter(|t| rule.matches_tag(t))
                .collect();
            for tag in &tags {
                let task = Task::new(&rule.name, &repo, tag, Op::Copy);
                if self.inner.queue.contains(&task) {
                    continue;
                }
                let want = src.head_manifest(&repo, tag).await?.map(|m| m.0);
                let have = dst
                    .head_manifest(&repo, tag)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.0);
                if want.is_some() && want != have {
                    tracing::info!(rule = %rule.name, %repo, %tag, "reconcile: target is missing or behind");
                    self.enqueue(task)?;
                }
            }
            if rule.deletes {
                for tag in dst.tags(&repo).await.unwrap_or_default() {
                    if rule.matches_tag(&tag) && !tags.contains(&tag) {
                        self.enqueue(Task::new(&rule.name, &repo, &tag, Op::Delete))?;
                    }
                }
            }
        }
        Ok(())
    }

    // === impl Engine: workers ===

    async fn work(self, shutdown: CancellationToken) {
        loop {
            match self.inner.queue.take() {
                Ok(task) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.run(task) => {}
                    }
                }
                Err(wait) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))) => {}
                    }
                }
            }
        }
    }

    async fn run(&self, task: Task) {
        let key = task.key();
        let image = format!("{}:{}", task.repository, task.reference);
        let Some(rule) = self.inner.rules.get(&task.rule) else {
            tracing::info!(rule = %task.rule, %image, "dropping task of a rule that no longer exists");
            let _ = self.inner.queue.done(&key);
            return;
        };
        let result = match task.op {
            Op::Copy => self.copy(rule, &task, &key).await,
            Op::Delete => self.delete(rule, &task).await.map(|_| 0),
        };
        match result {
            Ok(bytes) => {
                if let Err(e) = self.inner.queue.done(&key) {
                    tracing::error!(error = %e, "cannot remove finished replication task");
                }
                self.inner
                    .stats
                    .success(&rule.name, &image, bytes, task.op == Op::Copy);
            }
            Err(Error::Image(ferry_image::Error::NotFound { what, .. }))
                if task.op == Op::Copy && what.starts_with("manifest") =>
            {
                tracing::info!(rule = %rule.name, %image, "source image is gone; nothing to replicate");
                let _ = self.inner.queue.done(&key);
            }
            Err(e) => {
                let msg = e.to_string();
                self.inner.stats.failure(&rule.name, &msg);
                let delay = self.backoff(task.attempts + 1);
                let attempts = self.inner.queue.failed(&key, &msg, delay).unwrap_or(0);
                tracing::warn!(rule = %rule.name, %image, attempts, retry_in = ?delay, error = %msg, "replication failed; will retry");
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = Duration::from_millis(250u64.saturating_mul(1u64 << attempt.min(16)));
        base.min(self.inner.max_backoff)
    }

    async fn copy(&self, rule: &Rule, task: &Task, key: &str) -> Result<u64> {
        let sessions: Arc<dyn SessionStore> = Arc::new(QueueSessions {
            queue: self.inner.queue.clone(),
            key: key.to_string(),
        });
        let report = copy_image(
            &rule.source.client,
            &rule.target.client,
            &task.repository,
            &task.reference,
            sessions,
            4,
        )
        .await?;
        if !report.up_to_date {
            tracing::info!(rule = %rule.name, repo = %task.repository, reference = %task.reference, digest = %report.digest, bytes = report.bytes, skipped_blobs = report.skipped_blobs, "replicated");
            self.inner.events.publish(Event::ImageReplicated {
                source: rule.source.name.clone(),
                target: rule.target.name.clone(),
                repository: task.repository.clone(),
                tag: (!task.reference.contains(':')).then(|| task.reference.clone()),
                digest: report.digest.clone(),
            });
        }
        Ok(report.bytes)
    }

    async fn delete(&self, rule: &Rule, task: &Task) -> Result<()> {
        let dst = &rule.target.client;
        // Still present in the source (re-pushed since)? Then keep it.
        if (task.reference.contains(':')
            || rule
                .source
                .client
                .head_manifest(&task.repository, &task.reference)
                .await?
                .is_none())
            && dst
                .delete_manifest(&task.repository, &task.reference)
                .await
                .is_err()
            && let Some((digest, _, _)) =
                dst.head_manifest(&task.repository, &task.reference).await?
        {
            dst.delete_manifest(&task.repository, &digest).await?;
        }
        Ok(())
    }
}

struct QueueSessions {
    queue: Arc<Queue>,
    key: String,
}

impl SessionStore for QueueSessions {
    fn load(&self, blob: &str) -> Option<UploadSession> {
        self.queue.upload(&self.key, blob)
    }

    fn save(&self, blob: &str, session: &UploadSession) {
        if let Err(e) = self.queue.save_upload(&self.key, blob, session) {
            tracing::warn!(error = %e, "cannot persist upload session");
        }
    }
}
