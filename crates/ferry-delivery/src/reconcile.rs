//! One reconcile pass: fetch due repositories (with back-off), plan the
//! instances, then for each application in `dependsOn` order and each of
//! its environments: render (cached per commit), check the gates (missing
//! branch, bad manifests, dependencies, healthy-in, approval, image present
//! in the region's registry), compare with live, sync when git moved, on
//! demand or to heal drift, record history and update status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ferry_core::app_spec::Application;
use ferry_core::objects::StoredObject;
use futures_util::StreamExt;

use crate::engine::{Engine, RegionTarget};
use crate::health::Health;
use crate::history::{AppRecord, HistoryEntry};
use crate::object::{LABEL_APP, LABEL_ENV};
use crate::pipeline::StepState;
use crate::plan::{Instance, instances, pipeline_of};
pub(crate) use crate::reconcile_inputs::RenderCache;
use crate::reconcile_inputs::layers;
use crate::render::images_of;
use crate::source::normalise_url;
use crate::status::{AppStatus, EnvStatus, SyncState};
use crate::targets::target_id;

#[path = "reconcile_sync.rs"]
mod sync_step;
use sync_step::Work;
#[path = "reconcile_diff.rs"]
mod diff_step;
pub use diff_step::{EnvDiff, ObjectDiff};

/// Live objects grouped by (target, app, environment), so each instance
/// looks only at its own; and the targets that could not be listed this
/// pass (with why), whose instances are neither compared nor synced.
#[derive(Default)]
pub(crate) struct Live {
    pub objects: HashMap<(usize, String, String), Vec<StoredObject>>,
    pub failed: HashMap<usize, String>,
}
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Status of an application nothing is known about yet.
pub fn empty_status(a: &Application) -> AppStatus {
    AppStatus {
        name: a.metadata.name.clone(),
        repo_url: a.spec.source.repo_url.clone(),
        path: a.spec.source.path.clone(),
        source_error: None,
        environments: Vec::new(),
    }
}

/// How many applications of one `dependsOn` layer reconcile at once: each
/// mostly waits on its target (a Kubernetes API server answers many
/// requests in parallel), so a pass over 1,000 apps is not 1,000 round
/// trips in a row. 32: a first sync of 1,000 apps (five requests each, in
/// a row) keeps the API server busy without queueing behind it.
const PARALLEL_APPS: usize = 32;

impl Engine {
    /// One full pass over every application.
    pub async fn pass(&self) {
        let started = Instant::now();
        self.fetch_due().await;
        self.start_builds().await;
        let targets = self.lock().targets();
        let live = self.list_targets(&targets).await;
        self.inner.retry_soon.store(
            !live.failed.is_empty(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut queue = 0;
        for layer in layers(&self.inner.topology.applications) {
            // Futures made first: a closure inside the stream would make
            // the pass's future not `Send` for every lifetime (rust#110338).
            let runs: Vec<_> = layer
                .into_iter()
                .map(|app| self.reconcile_app(app, &live))
                .collect();
            let waiting: Vec<i64> = futures_util::stream::iter(runs)
                .buffer_unordered(PARALLEL_APPS)
                .collect()
                .await;
            queue += waiting.iter().sum::<i64>();
        }
        self.inner.metrics.queue_depth.set(queue);
        self.inner
            .metrics
            .reconcile_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    /// Lists each target once; a target that cannot be listed is recorded
    /// as failed (its instances wait, nothing is synced blind).
    async fn list_targets(&self, targets: &[(String, Arc<dyn crate::target::Target>)]) -> Live {
        let mut live = Live::default();
        for (name, target) in targets {
            match target.list(LABEL_APP, "").await {
                Ok(objs) => {
                    for o in objs {
                        let app = crate::object::label(&o.value, LABEL_APP)
                            .unwrap_or_default()
                            .to_string();
                        let env = crate::object::label(&o.value, LABEL_ENV)
                            .unwrap_or_default()
                            .to_string();
                        live.objects
                            .entry((target_id(target), app, env))
                            .or_default()
                            .push(o);
                    }
                }
                Err(e) => {
                    tracing::warn!(target = %name, error = %e, "cannot list live objects");
                    live.failed.insert(target_id(target), e.to_string());
                }
            }
        }
        live
    }

    /// Reconciles one application; returns how many environments still wait.
    async fn reconcile_app(&self, app: &Application, live: &Live) -> i64 {
        let name = &app.metadata.name;
        let url = normalise_url(&app.spec.source.repo_url);
        let (refs, source_error) = {
            let st = self.lock();
            let r = st.repos.get(&url);
            (
                r.and_then(|r| r.refs.clone()),
                r.and_then(|r| r.error.clone()),
            )
        };
        let insts = instances(&self.inner.topology, app, refs.as_ref());
        let mut envs = Vec::new();
        let mut waiting = 0;
        for inst in &insts {
            let status = self.reconcile_instance(app, inst, live).await;
            if status.waiting.is_some()
                || status.error.is_some()
                || status.sync != SyncState::Synced
            {
                waiting += 1;
            }
            envs.push(status);
        }
        if refs.is_some() {
            self.teardown_vanished(app, &insts).await;
        }
        let status = AppStatus {
            source_error,
            environments: envs,
            ..empty_status(app)
        };
        let changed = {
            let mut st = self.lock();
            let changed = st.status.get(name) != Some(&status);
            st.status.insert(name.clone(), status);
            changed
        };
        if changed {
            self.changed(name);
        }
        waiting
    }

    /// One environment of one application: snapshot, pin, resolve image
    /// tags, render, then compare, gate and sync ([`Engine::converge`]).
    async fn reconcile_instance(
        &self,
        app: &Application,
        inst: &Instance,
        live: &Live,
    ) -> EnvStatus {
        let name = &app.metadata.name;
        let snap = self.snapshot(name, inst);
        let last_good = snap.rec.last_good(&inst.env).cloned();
        let mut status = initial_status(inst, last_good.as_ref(), snap.prev);
        let Some(region) = snap.region else {
            status.waiting = Some(match self.inner.remote.get() {
                Some(_) => format!("delivered by region `{}`'s own process", inst.region),
                None => format!("region `{}` is not attached to the engine", inst.region),
            });
            return status;
        };
        let (mut inst, pinned) = pin_rollback(&snap.rec, inst);
        let trigger = match (pinned, snap.manual) {
            (true, _) => "rollback",
            (false, true) => "manual",
            (false, false) => "git",
        };
        let Some(commit) = inst.commit.clone() else {
            status.waiting = Some(commit_missing(&status, &inst));
            return status;
        };
        status.desired_revision = Some(commit.clone());
        if let Err(e) = self.resolve_image_tags(app, &mut inst, &commit).await {
            status.waiting = Some(format!("cannot tell which images changed: {e}"));
            return status;
        }
        let desired = match self.render_instance(app, &inst, &commit, &region).await {
            Ok(d) => crate::target::with_target_scopes(region.target.as_ref(), d),
            Err(e) => {
                let message = e.to_string();
                let step = format!("render {}", inst.env);
                let failed = Some(message.clone());
                self.run_step(&inst, &commit, &step, StepState::Failed, failed);
                status.error = Some(message.clone());
                self.record_failure(name, &inst, &commit, &message, trigger);
                return status;
            }
        };
        let work = Work {
            app,
            inst: &inst,
            commit: &commit,
            region: &region,
            rec: snap.rec,
            last_good,
            manual: snap.manual,
            trigger,
        };
        self.converge(work, &desired, live, status).await
    }

    /// What the engine knows about `name` in `inst`'s environment, taken
    /// under one lock; the target is the environment's own, else the
    /// region's.
    fn snapshot(&self, name: &str, inst: &Instance) -> Snapshot {
        let st = self.lock();
        let manual = st.manual.contains(&(name.to_string(), inst.env.clone()))
            || st.manual.contains(&(name.to_string(), String::new()));
        let prev = st.status.get(name).and_then(|s| {
            s.environments
                .iter()
                .find(|e| e.environment == inst.env)
                .cloned()
        });
        Snapshot {
            region: st.target_for(&inst.region, &inst.env),
            rec: st.records.get(name).cloned().unwrap_or_default(),
            manual,
            prev,
        }
    }

    /// The tag of each pipeline image at `commit` (those whose inputs did
    /// not change keep the tag of the commit that last changed them).
    async fn resolve_image_tags(
        &self,
        app: &Application,
        inst: &mut Instance,
        commit: &str,
    ) -> crate::Result<()> {
        let pipeline = pipeline_of(&self.inner.topology, &app.metadata.name);
        let (Some(p), Some(rule)) = (pipeline, inst.rule.clone()) else {
            return Ok(());
        };
        let url = normalise_url(&app.spec.source.repo_url);
        let tags = self
            .image_tags(p, &url, &rule, &inst.git_ref, commit)
            .await?;
        inst.image_tags = tags.into_iter().map(|(n, t)| (n, t.tag)).collect();
        Ok(())
    }

    /// The desired objects of `inst` at `commit`, images rewritten: image
    /// policies first (the first matching override wins), then the
    /// Application's own overrides, then the pipeline's tags; with the
    /// image pull Secret when the target needs one.
    async fn render_instance(
        &self,
        app: &Application,
        inst: &Instance,
        commit: &str,
        region: &RegionTarget,
    ) -> Result<Arc<Vec<StoredObject>>, Arc<crate::Error>> {
        let pipeline = pipeline_of(&self.inner.topology, &app.metadata.name);
        let mut overrides = self
            .policy_overrides(&app.spec.image_policies, &region.registry)
            .await;
        overrides.extend(app.spec.render.images.iter().cloned());
        overrides.extend(inst.overrides(pipeline, &region.registry));
        let rendered = self.render_cached(app, inst, commit, &overrides).await?;
        let to = crate::pull_secret::PullSecretFor {
            app: &app.metadata.name,
            environment: &inst.env,
            registry: &region.registry,
        };
        self.with_pull_access(to, &inst.region, region, rendered)
            .await
            .map_err(Arc::new)
    }
}

/// The engine's state for one environment, taken under one lock.
struct Snapshot {
    /// Where the environment syncs (`None`: region not attached).
    region: Option<RegionTarget>,
    rec: AppRecord,
    /// `ferry app sync` asked for this environment (or all of them).
    manual: bool,
    prev: Option<EnvStatus>,
}

/// The status before this pass looks at git: what was last synced.
fn initial_status(
    inst: &Instance,
    last_good: Option<&HistoryEntry>,
    prev: Option<EnvStatus>,
) -> EnvStatus {
    EnvStatus {
        environment: inst.env.clone(),
        region: inst.region.clone(),
        namespace: inst.namespace.clone(),
        git_ref: inst.git_ref.clone(),
        desired_revision: inst.commit.clone(),
        synced_revision: last_good.map(|e| e.revision.clone()),
        sync: SyncState::Unknown,
        health: prev.as_ref().map_or(Health::Unknown, |p| p.health),
        images: last_good.map(|e| e.images.clone()).unwrap_or_default(),
        waiting: None,
        error: None,
        ephemeral: inst.ephemeral,
        objects: prev.map(|p| p.objects).unwrap_or_default(),
    }
}

/// A rollback pins the environment to an earlier successful sync: the
/// instance with the pinned revision (and its image tag), and whether a
/// pin applied.
fn pin_rollback(rec: &AppRecord, inst: &Instance) -> (Instance, bool) {
    let mut inst = inst.clone();
    let Some(entry) = rec
        .pinned
        .get(&inst.env)
        .and_then(|pin| rec.history.iter().find(|e| e.id.to_string() == *pin))
    else {
        return (inst, false);
    };
    inst.commit = Some(entry.revision.clone());
    if let Some(rule) = &inst.rule {
        inst.image_tag = Some(crate::pipeline::expand(
            &rule.image_tag,
            &entry.revision,
            &inst.git_ref,
        ));
    }
    (inst, true)
}

/// Why an instance has no commit to deploy.
fn commit_missing(status: &EnvStatus, inst: &Instance) -> String {
    if status.desired_revision.is_none() && inst.git_ref.is_empty() {
        "waiting for the repository to be fetched".into()
    } else {
        format!(
            "`{}` does not exist in the repository (or it is not fetched yet)",
            inst.git_ref
        )
    }
}

pub(crate) fn desired_images(objs: &[StoredObject]) -> Vec<String> {
    let mut v: Vec<String> = objs.iter().flat_map(|o| images_of(&o.value)).collect();
    v.sort();
    v.dedup();
    v
}
