//! Health of the `apps/v1` controllers: Deployment, StatefulSet, DaemonSet
//! and ReplicaSet. Each waits for its controller to observe the latest
//! generation, then compares the replica counts the controller reports
//! with the desired count. Counts Kubernetes omits when zero read as zero,
//! except `availableReplicas`, which falls back to `readyReplicas` (targets
//! that report only readiness).

use serde_json::Value;

use super::{Assessment, condition, generation_pending, int, text};

fn desired(v: &Value) -> i64 {
    int(v, "/spec/replicas").unwrap_or(1)
}

fn available(v: &Value) -> i64 {
    int(v, "/status/availableReplicas")
        .or_else(|| int(v, "/status/readyReplicas"))
        .unwrap_or(0)
}

fn observed_pending(what: &str) -> Assessment {
    Assessment::progressing(format!(
        "waiting for the {what} controller to observe the latest generation"
    ))
}

/// Paused → Suspended; a Progressing condition with reason
/// `ProgressDeadlineExceeded` → Degraded; then updated, old and available
/// replicas must all have caught up.
pub(crate) fn deployment(v: &Value) -> Assessment {
    if v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return Assessment::suspended("Paused", "deployment is paused");
    }
    if generation_pending(v) {
        return observed_pending("deployment");
    }
    if let Some(c) = condition(v, "Progressing")
        && text(c, "/reason") == Some("ProgressDeadlineExceeded")
    {
        let message = text(c, "/message").unwrap_or("deployment exceeded its progress deadline");
        return Assessment::degraded("ProgressDeadlineExceeded", message);
    }
    let want = desired(v);
    let updated = int(v, "/status/updatedReplicas").unwrap_or(0);
    let total = int(v, "/status/replicas").unwrap_or(0);
    if updated < want {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: {updated} of {want} new replicas updated"
        ));
    }
    if total > updated {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: {} old replicas pending termination",
            total - updated
        ));
    }
    let avail = available(v);
    if avail < updated {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: {avail} of {updated} updated replicas available"
        ));
    }
    Assessment::healthy()
}

/// Ready replicas must reach the desired count; a partitioned rolling
/// update only needs the replicas above the partition updated; otherwise
/// the update revision must have become the current one (OnDelete skips
/// that: pods update when someone deletes them).
pub(crate) fn stateful_set(v: &Value) -> Assessment {
    if generation_pending(v) {
        return observed_pending("statefulset");
    }
    let want = desired(v);
    let ready = int(v, "/status/readyReplicas").unwrap_or(0);
    if ready < want {
        return Assessment::progressing(format!("waiting for {} pods to be ready", want - ready));
    }
    let strategy = text(v, "/spec/updateStrategy/type").unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        return Assessment::healthy();
    }
    if let Some(partition) = int(v, "/spec/updateStrategy/rollingUpdate/partition") {
        let updated = int(v, "/status/updatedReplicas").unwrap_or(0);
        let want_updated = (want - partition).max(0);
        if updated < want_updated {
            return Assessment::progressing(format!(
                "waiting for partitioned rollout to finish: {updated} of {want_updated} new pods updated"
            ));
        }
        return Assessment::healthy();
    }
    if text(v, "/status/updateRevision") != text(v, "/status/currentRevision") {
        return Assessment::progressing("waiting for the statefulset rolling update to complete");
    }
    Assessment::healthy()
}

/// Every node that should run a pod has an updated, available one
/// (OnDelete: once the controller observed the spec).
pub(crate) fn daemon_set(v: &Value) -> Assessment {
    if generation_pending(v) {
        return observed_pending("daemonset");
    }
    if text(v, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Assessment::healthy();
    }
    let want = int(v, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(v, "/status/updatedNumberScheduled").unwrap_or(0);
    let avail = int(v, "/status/numberAvailable").unwrap_or(0);
    if updated < want {
        return Assessment::progressing(format!(
            "waiting for daemon set rollout to finish: {updated} of {want} updated pods scheduled"
        ));
    }
    if avail < want {
        return Assessment::progressing(format!(
            "waiting for daemon set rollout to finish: {avail} of {want} updated pods available"
        ));
    }
    Assessment::healthy()
}

/// A `ReplicaFailure` condition that is True → Degraded with its reason;
/// otherwise available replicas must reach the desired count.
pub(crate) fn replica_set(v: &Value) -> Assessment {
    if generation_pending(v) {
        return observed_pending("replicaset");
    }
    if let Some(c) = condition(v, "ReplicaFailure")
        && text(c, "/status") == Some("True")
    {
        let reason = text(c, "/reason").unwrap_or("ReplicaFailure");
        return Assessment::degraded(reason, text(c, "/message").unwrap_or_default());
    }
    let want = desired(v);
    let avail = available(v);
    if avail < want {
        return Assessment::progressing(format!(
            "waiting for rollout to finish: {avail} of {want} replicas available"
        ));
    }
    Assessment::healthy()
}
