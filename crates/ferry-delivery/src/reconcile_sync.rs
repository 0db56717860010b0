//! The end of one environment's reconcile, once rendered:
//! [`Engine::converge`] compares with live and reports sync state and
//! health; [`decide`] — pure — says whether to sync and why (git moved, new
//! images, drift to heal, a manual sync, a rollback); a closed gate stops
//! there; [`Engine::sync_instance`] syncs. A sync wave not healthy yet
//! keeps the environment waiting (inventory kept, no history entry);
//! otherwise the history entry (identical failures once), the inventory,
//! the run step and the status record the outcome.

use std::time::{Duration, Instant};

use ferry_core::app_spec::{Application, SyncPolicy};
use ferry_core::objects::StoredObject;

use super::{Live, desired_images, now_ms};
use crate::engine::{Engine, RegionTarget};
use crate::health::Health;
use crate::history::{AppRecord, HistoryEntry, Outcome};
use crate::object::ObjKey;
use crate::pipeline::StepState;
use crate::plan::Instance;
use crate::status::{EnvStatus, SyncState};
use crate::sync::{Comparison, SyncResult, compare, live_of, sync};
use crate::target::Target;
use crate::targets::target_id;

/// One environment, rendered and ready to compare.
pub(super) struct Work<'a> {
    pub app: &'a Application,
    /// The instance, pinned by a rollback if any, image tags resolved.
    pub inst: &'a Instance,
    pub commit: &'a str,
    /// Where it syncs: the environment's target, else the region's.
    pub region: &'a RegionTarget,
    pub rec: AppRecord,
    /// The environment's last successful sync.
    pub last_good: Option<HistoryEntry>,
    /// `ferry app sync` asked for it.
    pub manual: bool,
    /// `git`, `manual` or `rollback` ([`decide`] may refine it).
    pub trigger: &'static str,
}

/// What [`decide`] looks at.
#[derive(Debug, Clone)]
pub(super) struct Facts<'a> {
    /// Live objects match the desired ones.
    pub in_sync: bool,
    /// Live objects ferry applied that left git.
    pub has_extra: bool,
    /// The revision last synced successfully.
    pub synced: Option<&'a str>,
    /// The revision to deploy.
    pub commit: &'a str,
    /// The images differ from the last successful sync's.
    pub new_images: bool,
    /// `ferry app sync` asked for it.
    pub manual: bool,
    pub policy: SyncPolicy,
    /// Why, so far: `git`, `manual` or `rollback`.
    pub trigger: &'static str,
}

/// Whether to sync, and the state and trigger to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    /// A revision (or image set) not synced yet.
    pub new_revision: bool,
    pub sync: SyncState,
    pub go: bool,
    /// `git`, `manual`, `rollback`, `image` or `self-heal`.
    pub trigger: &'static str,
}

/// Decides from `f` alone (no IO).
pub(super) fn decide(f: &Facts<'_>) -> Decision {
    let same_commit = f.synced == Some(f.commit);
    let new_revision = !same_commit || f.new_images;
    let mut trigger = f.trigger;
    if f.new_images && same_commit && !f.manual {
        trigger = "image";
    }
    let sync = if f.in_sync && !new_revision {
        SyncState::Synced
    } else {
        SyncState::OutOfSync
    };
    let p = f.policy;
    let drift = !f.in_sync && !new_revision;
    let go = f.manual
        || (p.automated && new_revision)
        || (drift && p.self_heal)
        || (p.prune && f.has_extra && p.automated);
    if go && drift && !f.manual {
        trigger = "self-heal";
    }
    Decision {
        new_revision,
        sync,
        go,
        trigger,
    }
}

/// One sync to run.
pub(super) struct SyncJob<'a> {
    pub app: &'a str,
    pub inst: &'a Instance,
    pub commit: &'a str,
    pub target: &'a dyn Target,
    pub desired: &'a [StoredObject],
    pub cmp: &'a Comparison,
    pub inventory: &'a [ObjKey],
    pub prune: bool,
    /// Take over fields another applier owns (`syncPolicy.force`).
    pub force: bool,
    pub trigger: &'static str,
}

impl Engine {
    /// Compares the rendered objects with live, reports sync state and
    /// health, stops at a closed gate, records the run's progress, then
    /// syncs when [`decide`] says so.
    pub(super) async fn converge(
        &self,
        w: Work<'_>,
        desired: &[StoredObject],
        live: &Live,
        mut status: EnvStatus,
    ) -> EnvStatus {
        let (name, inst, commit) = (&w.app.metadata.name, w.inst, w.commit);
        let id = target_id(&w.region.target);
        if let Some(why) = live.failed.get(&id) {
            // Nothing compared, nothing synced blind: the last known
            // objects stay shown and the next pass (within a second) tries again.
            status.sync = SyncState::Unknown;
            status.error = Some(format!("cannot read live objects: {why}"));
            return status;
        }
        let key = (id, name.clone(), inst.env.clone());
        let live_all = live
            .objects
            .get(&key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let live_objs = live_of(live_all, name, &inst.env);
        let inventory = w.rec.inventory.get(&inst.env).cloned().unwrap_or_default();
        let (held, starts) = self.rollout_desired(inst, desired, &live_objs).await;
        let desired = held.as_deref().unwrap_or(desired);
        let cmp = compare(w.region.target.as_ref(), desired, &live_objs, &inventory);
        status.objects = cmp.objects.clone();
        status.health = if live_objs.is_empty() && w.last_good.is_none() {
            Health::Missing
        } else {
            cmp.health()
        };
        self.rollout_health(inst, &mut status);
        let last_images = w.last_good.as_ref().map(|e| &e.images);
        let decision = decide(&Facts {
            in_sync: cmp.in_sync(),
            has_extra: !cmp.extra.is_empty(),
            synced: status.synced_revision.as_deref(),
            commit,
            new_images: last_images.is_some_and(|i| *i != desired_images(desired)),
            manual: w.manual,
            policy: w.app.spec.sync_policy,
            trigger: w.trigger,
        });
        status.sync = decision.sync;
        let gate = self.gate(w.app, inst, commit, &w.rec, decision.new_revision);
        if let Some(why) = gate.await {
            self.replication_step(inst, commit, Some(&why));
            let step = format!("gate {}", inst.env);
            self.run_step(inst, commit, &step, StepState::Waiting, Some(why.clone()));
            status.waiting = Some(why);
            return status;
        }
        self.rollout_start(inst, starts);
        self.progress_steps(inst, commit, &status, &cmp, decision.new_revision);
        if decision.go {
            let job = SyncJob {
                app: name,
                inst,
                commit,
                target: w.region.target.as_ref(),
                desired,
                cmp: &cmp,
                inventory: &inventory,
                prune: w.app.spec.sync_policy.prune || inst.ephemeral,
                force: w.app.spec.sync_policy.force,
                trigger: decision.trigger,
            };
            self.sync_instance(job, &mut status).await;
        }
        status
    }

    /// Run steps once past the gate: the gate passed for a new revision;
    /// for the synced revision, how healthy it is (a degraded one says why:
    /// the first degraded object, else the environment's error, such as a
    /// rolled-back canary's) and served when healthy.
    fn progress_steps(
        &self,
        inst: &Instance,
        commit: &str,
        status: &EnvStatus,
        cmp: &Comparison,
        new_revision: bool,
    ) {
        if new_revision {
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
        let why = cmp
            .objects
            .iter()
            .filter(|o| o.health == Health::Degraded)
            .find_map(|o| o.why())
            .or_else(|| status.error.clone()); // e.g. a rolled-back canary
        let step = format!("healthy {}", inst.env);
        let why = why.filter(|_| state == StepState::Failed);
        self.run_step(inst, commit, &step, state, why);
        if status.health == Health::Healthy {
            self.served(inst, commit);
        }
    }

    /// Syncs; a wave not healthy yet leaves the environment waiting (the
    /// manual request stays, so the next pass goes on), else the outcome
    /// is recorded.
    pub(super) async fn sync_instance(&self, job: SyncJob<'_>, status: &mut EnvStatus) {
        let started = Instant::now();
        let result = sync(
            job.target,
            job.desired,
            job.cmp,
            job.inventory,
            job.prune,
            job.force,
        )
        .await;
        let elapsed = started.elapsed();
        let metrics = &self.inner.metrics;
        metrics.sync_seconds.observe(elapsed.as_secs_f64());
        if let Ok(r) = &result
            && let Some(w) = &r.waiting
        {
            self.wave_pending(job.app, job.inst, job.commit, r, w);
            status.waiting = Some(w.clone());
            status.sync = SyncState::OutOfSync;
            return;
        }
        if let Err(crate::Error::Unreachable(why)) = &result {
            self.sync_interrupted(&job, why, status).await;
            return;
        }
        let (name, env) = (job.app, &job.inst.env);
        self.lock()
            .manual
            .retain(|(a, e)| !(a == name && (e.is_empty() || e == env)));
        self.record_sync(&job, result, elapsed, status).await;
    }

    /// A sync cut short because the target stopped answering: no history
    /// entry (the revision is neither failed nor done), what it may have
    /// applied kept in the inventory (desired plus the previous one, so a
    /// later prune still finds it), the manual request kept, and the next
    /// pass soon.
    async fn sync_interrupted(&self, job: &SyncJob<'_>, why: &str, status: &mut EnvStatus) {
        let env = &job.inst.env;
        let mut inventory: std::collections::BTreeSet<ObjKey> =
            job.desired.iter().map(ObjKey::of).collect();
        inventory.extend(job.inventory.iter().cloned());
        let ((), saved) = self
            .update_record_async(job.app, |st| {
                let rec = st.records.entry(job.app.to_string()).or_default();
                rec.inventory
                    .insert(env.clone(), inventory.into_iter().collect());
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(app = %job.app, error = %e, "cannot store sync record");
        }
        let message = format!("target unreachable, the sync resumes when it answers: {why}");
        let step = format!("sync {env}");
        self.run_step(
            job.inst,
            job.commit,
            &step,
            StepState::Running,
            Some(message.clone()),
        );
        self.inner
            .retry_soon
            .store(true, std::sync::atomic::Ordering::Relaxed);
        status.sync = SyncState::OutOfSync;
        status.error = Some(message);
        tracing::warn!(app = %job.app, %env, error = %why, "sync interrupted: target unreachable");
    }

    /// Records a finished sync in `rec` (stored), the metrics, the run
    /// and `status`, and notifies.
    async fn record_sync(
        &self,
        job: &SyncJob<'_>,
        result: crate::Result<SyncResult>,
        elapsed: Duration,
        status: &mut EnvStatus,
    ) {
        let (name, inst, commit) = (job.app, job.inst, job.commit);
        let images = desired_images(job.desired);
        let (outcome, message) = match &result {
            Ok(_) => (Outcome::Succeeded, None),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        let labels = crate::metrics::OutcomeLabels {
            outcome: format!("{outcome:?}"),
        };
        self.inner.metrics.syncs.get_or_create(&labels).inc();
        let entry = HistoryEntry {
            id: 0,
            environment: inst.env.clone(),
            revision: commit.to_string(),
            images: images.clone(),
            outcome,
            message: message.clone(),
            trigger: job.trigger.to_string(),
            started_ms: now_ms() - elapsed.as_millis() as u64,
            duration_ms: elapsed.as_millis() as u64,
        };
        let step = if result.is_ok() {
            StepState::Succeeded
        } else {
            StepState::Failed
        };
        let step_name = format!("sync {}", inst.env);
        self.run_step(inst, commit, &step_name, step, message.clone());
        let ((), saved) = self
            .update_record_async(name, |st| {
                let rec = st.records.entry(name.to_string()).or_default();
                if !repeats_failure(rec, &entry) {
                    rec.record(entry.clone());
                }
                if let Ok(r) = &result {
                    rec.inventory.insert(inst.env.clone(), r.inventory.clone());
                }
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(app = %name, error = %e, "cannot store sync record");
        }
        if result.is_ok() {
            status.synced_revision = Some(commit.to_string());
            status.images = images;
            status.sync = SyncState::Synced;
            status.health = Health::Progressing;
        } else {
            status.error = message;
        }
        crate::notify::sync_outcome(self, name, &entry);
        tracing::info!(app = %name, env = %inst.env, revision = %&commit[..7.min(commit.len())], outcome = ?outcome, trigger = job.trigger, "sync");
    }
}

/// A failed `entry` that repeats the last one (same revision and
/// environment): history does not grow with it on every pass.
fn repeats_failure(rec: &AppRecord, entry: &HistoryEntry) -> bool {
    entry.outcome == Outcome::Failed
        && rec.history.last().is_some_and(|l| {
            l.outcome == Outcome::Failed
                && l.revision == entry.revision
                && l.environment == entry.environment
        })
}

#[cfg(test)]
#[path = "reconcile_sync_tests.rs"]
mod tests;
