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

use crate::engine::Engine;
use crate::health::Health;
use crate::history::{HistoryEntry, Outcome};
use crate::object::{LABEL_APP, LABEL_ENV};
use crate::pipeline::StepState;
use crate::plan::{Instance, instances, pipeline_of};
pub(crate) use crate::reconcile_inputs::RenderCache;
use crate::reconcile_inputs::order;
use crate::render::images_of;
use crate::source::normalise_url;
use crate::status::{AppStatus, EnvStatus, SyncState};
use crate::sync::{compare, live_of, sync};
use crate::targets::target_id;

type Live = HashMap<(usize, String, String), Vec<StoredObject>>;
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
        let targets = self.lock().targets();
        // Live objects grouped by (target, app, environment), so each
        // instance looks only at its own.
        let mut live: Live = HashMap::new();
        for (name, target) in &targets {
            match target.list(LABEL_APP, "").await {
                Ok(objs) => {
                    for o in objs {
                        let app = crate::object::label(&o.value, LABEL_APP)
                            .unwrap_or_default()
                            .to_string();
                        let env = crate::object::label(&o.value, LABEL_ENV)
                            .unwrap_or_default()
                            .to_string();
                        live.entry((target_id(target), app, env))
                            .or_default()
                            .push(o);
                    }
                }
                Err(e) => tracing::warn!(target = %name, error = %e, "cannot list live objects"),
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

    async fn reconcile_instance(
        &self,
        app: &Application,
        inst: &Instance,
        live: &Live,
    ) -> EnvStatus {
        let name = &app.metadata.name;
        let (region, rec, manual, prev) = {
            let st = self.lock();
            let rec = st.records.get(name).cloned().unwrap_or_default();
            let manual = st.manual.contains(&(name.clone(), inst.env.clone()))
                || st.manual.contains(&(name.clone(), String::new()));
            let prev = st.status.get(name).and_then(|s| {
                s.environments
                    .iter()
                    .find(|e| e.environment == inst.env)
                    .cloned()
            });
            (st.target_for(&inst.region, &inst.env), rec, manual, prev)
        };
        let last_good = rec.last_good(&inst.env).cloned();
        let mut status = EnvStatus {
            environment: inst.env.clone(),
            region: inst.region.clone(),
            namespace: inst.namespace.clone(),
            git_ref: inst.git_ref.clone(),
            desired_revision: inst.commit.clone(),
            synced_revision: last_good.as_ref().map(|e| e.revision.clone()),
            sync: SyncState::Unknown,
            health: prev.as_ref().map_or(Health::Unknown, |p| p.health),
            images: last_good
                .as_ref()
                .map(|e| e.images.clone())
                .unwrap_or_default(),
            waiting: None,
            error: None,
            ephemeral: inst.ephemeral,
            objects: prev.map(|p| p.objects).unwrap_or_default(),
        };
        let Some(region) = region else {
            status.waiting = Some(format!(
                "region `{}` is not attached to the engine",
                inst.region
            ));
            return status;
        };
        // A rollback pins the environment to an earlier successful sync.
        let mut inst = inst.clone();
        let mut trigger = if manual { "manual" } else { "git" };
        if let Some(pin) = rec.pinned.get(&inst.env)
            && let Some(entry) = rec.history.iter().find(|e| e.id.to_string() == *pin)
        {
            inst.commit = Some(entry.revision.clone());
            if let Some(rule) = &inst.rule {
                inst.image_tag = Some(crate::pipeline::expand(
                    &rule.image_tag,
                    &entry.revision,
                    &inst.git_ref,
                ));
            }
            trigger = "rollback";
        }
        let Some(commit) = inst.commit.clone() else {
            status.waiting = Some(
                if status.desired_revision.is_none() && inst.git_ref.is_empty() {
                    "waiting for the repository to be fetched".into()
                } else {
                    format!(
                        "`{}` does not exist in the repository (or it is not fetched yet)",
                        inst.git_ref
                    )
                },
            );
            return status;
        };
        status.desired_revision = Some(commit.clone());
        let pipeline = pipeline_of(&self.inner.topology, name);
        if let (Some(p), Some(rule)) = (pipeline, inst.rule.clone()) {
            let url = normalise_url(&app.spec.source.repo_url);
            match self
                .image_tags(p, &url, &rule, &inst.git_ref, &commit)
                .await
            {
                Ok(t) => inst.image_tags = t.into_iter().map(|(n, t)| (n, t.tag)).collect(),
                Err(e) => {
                    status.waiting = Some(format!("cannot tell which images changed: {e}"));
                    return status;
                }
            }
        }
        // Image policies first: the first matching override wins.
        let overrides = {
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
                self.run_step(
                    &inst,
                    &commit,
                    &format!("render {}", inst.env),
                    StepState::Failed,
                    Some(message.clone()),
                );
                status.error = Some(message.clone());
                self.record_failure(name, &inst, &commit, &message, trigger);
                return status;
            }
        };
        let live_all = live
            .get(&(target_id(&region.target), name.clone(), inst.env.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let live_objs = live_of(live_all, name, &inst.env);
        let inventory = rec.inventory.get(&inst.env).cloned().unwrap_or_default();
        let cmp = compare(region.target.as_ref(), &desired, &live_objs, &inventory);
        status.objects = cmp.objects.clone();
        status.health = if live_objs.is_empty() && last_good.is_none() {
            Health::Missing
        } else {
            cmp.health()
        };
        let new_images = last_good
            .as_ref()
            .is_some_and(|e| e.images != desired_images(&desired));
        let new_revision = status.synced_revision.as_deref() != Some(commit.as_str()) || new_images;
        if new_images && status.synced_revision.as_deref() == Some(commit.as_str()) && !manual {
            trigger = "image";
        }
        status.sync = if cmp.in_sync() && !new_revision {
            SyncState::Synced
        } else {
            SyncState::OutOfSync
        };
        if let Some(w) = self.gate(app, &inst, &commit, &rec, new_revision).await {
            self.replication_step(&inst, &commit, Some(&w));
            self.run_step(
                &inst,
                &commit,
                &format!("gate {}", inst.env),
                StepState::Waiting,
                Some(w.clone()),
            );
            status.waiting = Some(w);
            return status;
        }
        if new_revision {
            self.replication_step(&inst, &commit, None);
            self.run_step(
                &inst,
                &commit,
                &format!("gate {}", inst.env),
                StepState::Succeeded,
                None,
            );
        }
        if status.synced_revision.as_deref() == Some(commit.as_str()) {
            let state = match status.health {
                Health::Healthy => StepState::Succeeded,
                Health::Degraded => StepState::Failed,
                _ => StepState::Running,
            };
            // A degraded environment says why (the first degraded object).
            let why = cmp
                .objects
                .iter()
                .filter(|o| o.health == Health::Degraded)
                .find_map(|o| o.why());
            self.run_step(
                &inst,
                &commit,
                &format!("healthy {}", inst.env),
                state,
                why.filter(|_| state == StepState::Failed),
            );
            if status.health == Health::Healthy {
                self.served(&inst, &commit);
            }
        }
        let policy = app.spec.sync_policy;
        let drift = !cmp.in_sync() && !new_revision;
        let go = manual
            || (policy.automated && new_revision)
            || (drift && policy.self_heal)
            || (policy.prune && !cmp.extra.is_empty() && policy.automated);
        if !go {
            return status;
        }
        if drift && !manual {
            trigger = "self-heal";
        }
        let started = Instant::now();
        let result = sync(
            region.target.as_ref(),
            &desired,
            &cmp,
            &inventory,
            policy.prune || inst.ephemeral,
            policy.force,
        )
        .await;
        let elapsed = started.elapsed();
        self.inner
            .metrics
            .sync_seconds
            .observe(elapsed.as_secs_f64());
        if let Ok(r) = &result
            && let Some(w) = &r.waiting
        {
            self.wave_pending(name, rec, &inst, &commit, r, w);
            status.waiting = Some(w.clone());
            status.sync = SyncState::OutOfSync;
            return status;
        }
        self.lock()
            .manual
            .retain(|(a, e)| !(a == name && (e.is_empty() || *e == inst.env)));
        let images = desired_images(&desired);
        let (outcome, message) = match &result {
            Ok(_) => (Outcome::Succeeded, None),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        self.inner
            .metrics
            .syncs
            .get_or_create(&crate::metrics::OutcomeLabels {
                outcome: format!("{outcome:?}"),
            })
            .inc();
        let entry = HistoryEntry {
            id: 0,
            environment: inst.env.clone(),
            revision: commit.clone(),
            images: images.clone(),
            outcome,
            message: message.clone(),
            trigger: trigger.to_string(),
            started_ms: now_ms() - elapsed.as_millis() as u64,
            duration_ms: elapsed.as_millis() as u64,
        };
        // Don't grow history with identical failures on every pass.
        let repeat = outcome == Outcome::Failed
            && rec.history.last().is_some_and(|l| {
                l.outcome == Outcome::Failed && l.revision == commit && l.environment == inst.env
            });
        let mut rec = rec;
        if !repeat {
            rec.record(entry.clone());
        }
        let step = if result.is_ok() {
            StepState::Succeeded
        } else {
            StepState::Failed
        };
        self.run_step(
            &inst,
            &commit,
            &format!("sync {}", inst.env),
            step,
            message.clone(),
        );
        if let Ok(r) = &result {
            rec.inventory.insert(inst.env.clone(), r.inventory.clone());
            status.synced_revision = Some(commit.clone());
            status.images = images;
            status.sync = SyncState::Synced;
            status.health = Health::Progressing;
        } else {
            status.error = message;
        }
        if let Err(e) = self.inner.store.save(name, &rec) {
            tracing::error!(app = %name, error = %e, "cannot store sync record");
        }
        self.lock().records.insert(name.clone(), rec);
        crate::notify::sync_outcome(self, name, &entry);
        tracing::info!(app = %name, env = %inst.env, revision = %&commit[..7.min(commit.len())], outcome = ?outcome, trigger, "sync");
        status
    }
}

fn desired_images(objs: &[StoredObject]) -> Vec<String> {
    let mut v: Vec<String> = objs.iter().flat_map(|o| images_of(&o.value)).collect();
    v.sort();
    v.dedup();
    v
}
