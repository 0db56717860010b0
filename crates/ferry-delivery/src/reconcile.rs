//! One reconcile pass: fetch due repositories (with back-off), plan the
//! instances, then for each application in `dependsOn` order and each of
//! its environments: render (cached per commit), check the gates (missing
//! branch, bad manifests, dependencies, healthy-in, approval, image present
//! in the region's registry), compare with live, sync when git moved, on
//! demand or to heal drift, record history and update status.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ferry_core::app_spec::Application;
use ferry_core::objects::StoredObject;

use crate::engine::{Engine, RegionTarget};
use crate::health::Health;
use crate::history::{AppRecord, HistoryEntry};
use crate::object::{LABEL_APP, LABEL_ENV};
use crate::pipeline::StepState;
use crate::plan::{Instance, instances, pipeline_of};
pub(crate) use crate::reconcile_inputs::RenderCache;
use crate::reconcile_inputs::order;
use crate::render::images_of;
use crate::source::normalise_url;
use crate::status::{AppStatus, EnvStatus, SyncState};
use crate::sync::{compare, live_of};

#[path = "reconcile_sync.rs"]
mod sync_step;
use sync_step::{Facts, SyncJob, decide};

type Live = HashMap<(String, String, String), Vec<StoredObject>>;
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

impl Engine {
    /// One full pass over every application.
    pub async fn pass(&self) {
        let started = Instant::now();
        self.fetch_due().await;
        self.start_builds().await;
        let regions = self.lock().regions.clone();
        // Live objects grouped by (region, app, environment), so each
        // instance looks only at its own.
        let mut live: Live = HashMap::new();
        for (name, r) in &regions {
            match r.target.list(LABEL_APP, "").await {
                Ok(objs) => {
                    for o in objs {
                        let app = crate::object::label(&o.value, LABEL_APP)
                            .unwrap_or_default()
                            .to_string();
                        let env = crate::object::label(&o.value, LABEL_ENV)
                            .unwrap_or_default()
                            .to_string();
                        live.entry((name.clone(), app, env)).or_default().push(o);
                    }
                }
                Err(e) => tracing::warn!(region = %name, error = %e, "cannot list live objects"),
            }
        }
        let mut queue = 0;
        for app in order(&self.inner.topology.applications) {
            queue += self.reconcile_app(app, &live).await;
        }
        self.inner.metrics.queue_depth.set(queue);
        self.inner
            .metrics
            .reconcile_seconds
            .observe(started.elapsed().as_secs_f64());
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
        self.lock().status.insert(name.clone(), status);
        waiting
    }

    /// One environment of one application: snapshot, pin, resolve image
    /// tags, render, compare, gate, then sync when [`decide`] says so.
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
            status.waiting = Some(format!(
                "region `{}` is not attached to the engine",
                inst.region
            ));
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
        let pipeline = pipeline_of(&self.inner.topology, name);
        if let Err(e) = self.resolve_image_tags(app, &mut inst, &commit).await {
            let e = crate::error::report(&e);
            status.waiting = Some(format!("cannot tell which images changed: {e}"));
            return status;
        }
        let overrides = {
            // Image policies first: the first matching override wins.
            let mut o = self
                .policy_overrides(&app.spec.image_policies, &region.registry)
                .await;
            o.extend(app.spec.render.images.iter().cloned());
            o.extend(inst.overrides(pipeline, &region.registry));
            o
        };
        let desired = match self.rendered(app, &inst, &commit, &overrides).await {
            Ok(d) => d,
            Err(message) => {
                let step = format!("render {}", inst.env);
                let failed = Some(message.clone());
                self.run_step(&inst, &commit, &step, StepState::Failed, failed);
                self.record_failure(name, &inst, &commit, &message, trigger);
                status.error = Some(message);
                return status;
            }
        };
        let live_all = live
            .get(&(inst.region.clone(), name.clone(), inst.env.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let live_objs = live_of(live_all, name, &inst.env);
        let inventory = snap
            .rec
            .inventory
            .get(&inst.env)
            .cloned()
            .unwrap_or_default();
        let cmp = compare(region.target.as_ref(), &desired, &live_objs, &inventory);
        status.objects = cmp.objects.clone();
        status.health = if live_objs.is_empty() && last_good.is_none() {
            Health::Missing
        } else {
            cmp.health()
        };
        let decision = decide(&Facts {
            in_sync: cmp.in_sync(),
            has_extra: !cmp.extra.is_empty(),
            synced: status.synced_revision.as_deref(),
            commit: &commit,
            new_images: last_good
                .as_ref()
                .is_some_and(|e| e.images != desired_images(&desired)),
            manual: snap.manual,
            policy: app.spec.sync_policy,
            trigger,
        });
        status.sync = decision.sync;
        let gate = self.gate(app, &inst, &commit, &snap.rec, decision.new_revision);
        if let Some(w) = gate.await {
            self.replication_step(&inst, &commit, Some(&w));
            let step = format!("gate {}", inst.env);
            self.run_step(&inst, &commit, &step, StepState::Waiting, Some(w.clone()));
            status.waiting = Some(w);
            return status;
        }
        self.progress_steps(&inst, &commit, &status, decision.new_revision);
        if decision.go {
            let job = SyncJob {
                app: name,
                inst: &inst,
                commit: &commit,
                target: region.target.as_ref(),
                desired: &desired,
                cmp: &cmp,
                inventory: &inventory,
                prune: app.spec.sync_policy.prune || inst.ephemeral,
                trigger: decision.trigger,
            };
            self.sync_instance(job, snap.rec, &mut status).await;
        }
        status
    }

    /// What the engine knows about `name` in `inst`'s environment.
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
            region: st.regions.get(&inst.region).cloned(),
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

    /// Run steps once past the gate: the gate passed for a new revision;
    /// for the synced revision, how healthy it is (and served when healthy).
    fn progress_steps(&self, inst: &Instance, commit: &str, status: &EnvStatus, new_rev: bool) {
        if new_rev {
            self.replication_step(inst, commit, None);
            let step = format!("gate {}", inst.env);
            self.run_step(inst, commit, &step, StepState::Succeeded, None);
        }
        if status.synced_revision.as_deref() != Some(commit) {
            return;
        }
        let state = match status.health {
            Health::Healthy => StepState::Succeeded,
            Health::Degraded => StepState::Failed,
            _ => StepState::Running,
        };
        let step = format!("healthy {}", inst.env);
        self.run_step(inst, commit, &step, state, None);
        if status.health == Health::Healthy {
            self.served(inst, commit);
        }
    }
}

/// The engine's state for one environment, taken under one lock.
struct Snapshot {
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
