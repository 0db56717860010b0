//! The end of one environment's reconcile: [`decide`] — pure — says
//! whether to sync and why (git moved, new images, drift to heal, a manual
//! sync, a rollback), and [`Engine::sync_instance`] does it: applies,
//! records the history entry (identical failures once), the inventory and
//! the run step, and updates the status.

use std::time::Instant;

use ferry_core::app_spec::SyncPolicy;
use ferry_core::objects::StoredObject;

use super::{desired_images, now_ms};
use crate::engine::Engine;
use crate::health::Health;
use crate::history::{AppRecord, HistoryEntry, Outcome};
use crate::object::ObjKey;
use crate::pipeline::StepState;
use crate::plan::Instance;
use crate::status::{EnvStatus, SyncState};
use crate::sync::{Comparison, sync};
use crate::target::Target;

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
    pub trigger: &'static str,
}

impl Engine {
    /// Syncs, then records the outcome in `rec` (stored), the run and `status`.
    pub(super) async fn sync_instance(
        &self,
        job: SyncJob<'_>,
        mut rec: AppRecord,
        status: &mut EnvStatus,
    ) {
        let (name, inst, commit) = (job.app, job.inst, job.commit);
        let started = Instant::now();
        let result = sync(job.target, job.desired, job.cmp, job.inventory, job.prune).await;
        let elapsed = started.elapsed();
        let metrics = &self.inner.metrics;
        metrics.sync_seconds.observe(elapsed.as_secs_f64());
        self.lock()
            .manual
            .retain(|(a, e)| !(a == name && (e.is_empty() || *e == inst.env)));
        let images = desired_images(job.desired);
        let (outcome, message) = match &result {
            Ok(_) => (Outcome::Succeeded, None),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        let labels = crate::metrics::OutcomeLabels {
            outcome: format!("{outcome:?}"),
        };
        metrics.syncs.get_or_create(&labels).inc();
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
        // Don't grow history with identical failures on every pass.
        let repeat = outcome == Outcome::Failed
            && rec.history.last().is_some_and(|l| {
                l.outcome == Outcome::Failed && l.revision == commit && l.environment == inst.env
            });
        if !repeat {
            rec.record(entry.clone());
        }
        let step = if result.is_ok() {
            StepState::Succeeded
        } else {
            StepState::Failed
        };
        let step_name = format!("sync {}", inst.env);
        self.run_step(inst, commit, &step_name, step, message.clone());
        if let Ok(r) = &result {
            rec.inventory.insert(inst.env.clone(), r.inventory.clone());
            status.synced_revision = Some(commit.to_string());
            status.images = images;
            status.sync = SyncState::Synced;
            status.health = Health::Progressing;
        } else {
            status.error = message;
        }
        if let Err(e) = self.inner.store.save(name, &rec) {
            tracing::error!(app = %name, error = %e, "cannot store sync record");
        }
        self.lock().records.insert(name.to_string(), rec);
        crate::notify::sync_outcome(self, name, &entry);
        tracing::info!(app = %name, env = %inst.env, revision = %&commit[..7.min(commit.len())], outcome = ?outcome, trigger = job.trigger, "sync");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            in_sync: true,
            has_extra: false,
            synced: Some("c1"),
            commit: "c1",
            new_images: false,
            manual: false,
            policy: SyncPolicy {
                automated: true,
                self_heal: false,
                prune: false,
            },
            trigger: "git",
        }
    }

    #[test]
    fn synced_and_unchanged_does_nothing() {
        let d = decide(&facts());
        assert_eq!(
            (d.sync, d.go, d.new_revision),
            (SyncState::Synced, false, false)
        );
    }

    #[test]
    fn a_new_commit_syncs_when_automated_only() {
        let f = Facts {
            commit: "c2",
            ..facts()
        };
        let d = decide(&f);
        assert!(d.go && d.new_revision);
        assert_eq!((d.sync, d.trigger), (SyncState::OutOfSync, "git"));
        let manual_only = SyncPolicy {
            automated: false,
            ..f.policy
        };
        assert!(
            !decide(&Facts {
                policy: manual_only,
                ..f.clone()
            })
            .go
        );
        let asked = Facts {
            policy: manual_only,
            manual: true,
            trigger: "manual",
            ..f
        };
        assert_eq!(decide(&asked).trigger, "manual");
        assert!(decide(&asked).go);
    }

    #[test]
    fn new_images_on_the_same_commit_are_an_image_trigger() {
        let d = decide(&Facts {
            new_images: true,
            ..facts()
        });
        assert!(d.go && d.new_revision);
        assert_eq!(d.trigger, "image");
    }

    #[test]
    fn drift_is_healed_only_with_self_heal() {
        let drift = Facts {
            in_sync: false,
            ..facts()
        };
        let d = decide(&drift);
        assert_eq!((d.sync, d.go), (SyncState::OutOfSync, false));
        let heal = SyncPolicy {
            self_heal: true,
            ..drift.policy
        };
        let d = decide(&Facts {
            policy: heal,
            ..drift
        });
        assert!(d.go);
        assert_eq!(d.trigger, "self-heal");
    }
}
