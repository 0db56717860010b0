//! Unit tests of [`decide`] (every trigger and policy case) and of the
//! repeated-failure rule of the sync history.

use super::*;

/// Synced at `c1`, live matches, automated sync only.
fn facts() -> Facts<'static> {
    Facts {
        in_sync: true,
        has_extra: false,
        synced: Some("c1"),
        commit: "c1",
        new_images: false,
        manual: false,
        policy: policy(true, false, false),
        trigger: "git",
    }
}

/// The rest of the policy (`force`) as default.
fn policy(automated: bool, self_heal: bool, prune: bool) -> SyncPolicy {
    SyncPolicy {
        automated,
        self_heal,
        prune,
        ..SyncPolicy::default()
    }
}

#[test]
fn synced_and_unchanged_does_nothing() {
    let d = decide(&facts());
    assert_eq!(
        d,
        Decision {
            new_revision: false,
            sync: SyncState::Synced,
            go: false,
            trigger: "git",
        }
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
    let by_hand = Facts {
        policy: policy(false, false, false),
        ..f.clone()
    };
    let d = decide(&by_hand);
    assert!(!d.go && d.new_revision);
    assert_eq!(d.sync, SyncState::OutOfSync);
}

#[test]
fn never_synced_is_a_new_revision() {
    let d = decide(&Facts {
        synced: None,
        ..facts()
    });
    assert!(d.go && d.new_revision);
    assert_eq!(d.sync, SyncState::OutOfSync);
}

#[test]
fn a_manual_sync_goes_whatever_the_policy() {
    let d = decide(&Facts {
        manual: true,
        trigger: "manual",
        policy: policy(false, false, false),
        ..facts()
    });
    assert!(d.go);
    assert_eq!((d.sync, d.trigger), (SyncState::Synced, "manual"));
}

#[test]
fn new_images_on_the_same_commit_are_an_image_trigger() {
    let d = decide(&Facts {
        new_images: true,
        ..facts()
    });
    assert!(d.go && d.new_revision);
    assert_eq!((d.sync, d.trigger), (SyncState::OutOfSync, "image"));
    // Asked for by hand, it stays a manual sync.
    let d = decide(&Facts {
        new_images: true,
        manual: true,
        trigger: "manual",
        ..facts()
    });
    assert_eq!(d.trigger, "manual");
    // On a new commit, git moved: not an image trigger.
    let d = decide(&Facts {
        new_images: true,
        commit: "c2",
        ..facts()
    });
    assert_eq!(d.trigger, "git");
}

#[test]
fn a_rollback_keeps_its_trigger() {
    let d = decide(&Facts {
        commit: "c0",
        trigger: "rollback",
        ..facts()
    });
    assert!(d.go);
    assert_eq!(d.trigger, "rollback");
}

#[test]
fn drift_is_healed_only_with_self_heal() {
    let drift = Facts {
        in_sync: false,
        ..facts()
    };
    let d = decide(&drift);
    assert_eq!(
        (d.sync, d.go, d.new_revision),
        (SyncState::OutOfSync, false, false)
    );
    assert_eq!(d.trigger, "git");
    let d = decide(&Facts {
        policy: policy(true, true, false),
        ..drift.clone()
    });
    assert!(d.go);
    assert_eq!(d.trigger, "self-heal");
    // A manual sync of a drifted environment stays manual.
    let d = decide(&Facts {
        policy: policy(true, true, false),
        manual: true,
        trigger: "manual",
        ..drift
    });
    assert_eq!(d.trigger, "manual");
}

#[test]
fn objects_that_left_git_are_pruned_when_automated_with_prune() {
    let extra = Facts {
        has_extra: true,
        ..facts()
    };
    assert!(!decide(&extra).go, "prune is off");
    let pruning = Facts {
        policy: policy(true, false, true),
        ..extra.clone()
    };
    assert!(decide(&pruning).go);
    let not_automated = Facts {
        policy: policy(false, false, true),
        ..extra
    };
    assert!(!decide(&not_automated).go);
}

fn entry(outcome: Outcome, revision: &str, env: &str) -> HistoryEntry {
    HistoryEntry {
        id: 0,
        environment: env.into(),
        revision: revision.into(),
        images: Vec::new(),
        outcome,
        message: None,
        trigger: "git".into(),
        started_ms: 0,
        duration_ms: 0,
    }
}

#[test]
fn only_an_identical_failure_repeats() {
    let mut rec = AppRecord::default();
    let failed = entry(Outcome::Failed, "c1", "dev");
    assert!(!repeats_failure(&rec, &failed), "empty history");
    rec.record(failed.clone());
    assert!(repeats_failure(&rec, &failed));
    assert!(!repeats_failure(&rec, &entry(Outcome::Failed, "c2", "dev")));
    assert!(!repeats_failure(
        &rec,
        &entry(Outcome::Failed, "c1", "prod")
    ));
    assert!(!repeats_failure(
        &rec,
        &entry(Outcome::Succeeded, "c1", "dev")
    ));
}
