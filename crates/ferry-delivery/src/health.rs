//! Health of live objects and of whole applications, as Argo CD spells it:
//! Healthy, Progressing, Degraded, Missing. Pure functions over the live
//! object's `status`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Health of one object or of an application (the worst of its objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Health {
    Healthy,
    Progressing,
    Degraded,
    Missing,
    /// Not evaluated yet (nothing synced).
    Unknown,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Health of one live object; `None` means it does not exist.
pub fn object_health(live: Option<&Value>) -> Health {
    let Some(v) = live else {
        return Health::Missing;
    };
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => workload(v),
        "Pod" => pod(v),
        _ => Health::Healthy,
    }
}

fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

fn workload(v: &Value) -> Health {
    let Some(status) = v.get("status") else {
        return Health::Progressing;
    };
    let conditions = status.get("conditions").and_then(Value::as_array);
    if conditions.into_iter().flatten().any(|c| {
        c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            || (c.get("type").and_then(Value::as_str) == Some("ReplicaFailure")
                && c.get("status").and_then(Value::as_str) == Some("True"))
    }) {
        return Health::Degraded;
    }
    let want = int(v, "/spec/replicas").unwrap_or(1);
    if let (Some(generation), Some(observed)) = (
        int(v, "/metadata/generation"),
        int(status, "/observedGeneration"),
    ) && observed < generation
    {
        return Health::Progressing;
    }
    let ready = int(status, "/readyReplicas").unwrap_or(0);
    let updated = int(status, "/updatedReplicas").unwrap_or(ready);
    let total = int(status, "/replicas").unwrap_or(ready);
    if ready >= want && updated >= want && total <= want.max(ready) {
        Health::Healthy
    } else {
        Health::Progressing
    }
}

fn pod(v: &Value) -> Health {
    let statuses = v
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    if statuses.into_iter().flatten().any(|s| {
        matches!(
            s.pointer("/state/waiting/reason").and_then(Value::as_str),
            Some("CrashLoopBackOff" | "ImagePullBackOff" | "ErrImagePull" | "CreateContainerError")
        )
    }) {
        return Health::Degraded;
    }
    match v.pointer("/status/phase").and_then(Value::as_str) {
        Some("Running") | Some("Succeeded") => Health::Healthy,
        Some("Failed") => Health::Degraded,
        _ => Health::Progressing,
    }
}

/// The application's health: the worst of its objects' (Healthy when empty).
pub fn worst(healths: impl IntoIterator<Item = Health>) -> Health {
    healths
        .into_iter()
        .max_by_key(|h| match h {
            Health::Healthy => 0,
            Health::Unknown => 1,
            Health::Progressing => 2,
            Health::Missing => 3,
            Health::Degraded => 4,
        })
        .unwrap_or(Health::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_health_follows_ready_replicas() {
        let mut d =
            json!({"kind": "Deployment", "spec": {"replicas": 2}, "status": {"readyReplicas": 1}});
        assert_eq!(object_health(Some(&d)), Health::Progressing);
        d["status"]["readyReplicas"] = json!(2);
        assert_eq!(object_health(Some(&d)), Health::Healthy);
        d["status"]["conditions"] =
            json!([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(object_health(Some(&d)), Health::Degraded);
        assert_eq!(
            object_health(Some(&json!({"kind": "Deployment"}))),
            Health::Progressing
        );
    }

    #[test]
    fn missing_and_other_kinds() {
        assert_eq!(object_health(None), Health::Missing);
        assert_eq!(
            object_health(Some(&json!({"kind": "Service"}))),
            Health::Healthy
        );
        let crash = json!({"kind": "Pod", "status": {"phase": "Running",
            "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(object_health(Some(&crash)), Health::Degraded);
    }

    #[test]
    fn app_health_is_the_worst() {
        assert_eq!(
            worst([Health::Healthy, Health::Progressing]),
            Health::Progressing
        );
        assert_eq!(worst([Health::Missing, Health::Degraded]), Health::Degraded);
        assert_eq!(worst([]), Health::Healthy);
    }
}
