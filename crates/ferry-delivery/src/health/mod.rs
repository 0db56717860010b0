//! Health of live objects and of whole applications, as Argo CD assesses
//! them: Healthy, Suspended, Progressing, Degraded, Missing. Pure functions
//! over the live object (its `spec` and `status`), one module per family:
//! `apps` (Deployment, StatefulSet, DaemonSet, ReplicaSet), `batch` (Pod,
//! Job, CronJob), `status` (Service, Ingress, PVC, HPA and the
//! `status.conditions` of custom resources). A Degraded or Suspended object
//! carries the reason (`ImagePullBackOff`, `ProgressDeadlineExceeded`, ...).

mod apps;
mod batch;
mod status;

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
    /// Paused on purpose: a paused Deployment, a suspended Job or CronJob.
    Suspended,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The health of one object with why: `reason` is a short CamelCase word
/// (the Kubernetes reason when there is one), `message` says more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Assessment {
    fn of(health: Health, reason: Option<&str>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            health,
            reason: reason.filter(|r| !r.is_empty()).map(str::to_string),
            message: (!message.is_empty()).then_some(message),
        }
    }

    pub(crate) fn healthy() -> Self {
        Self::of(Health::Healthy, None, "")
    }

    pub(crate) fn progressing(message: impl Into<String>) -> Self {
        Self::of(Health::Progressing, None, message)
    }

    pub(crate) fn degraded(reason: &str, message: impl Into<String>) -> Self {
        Self::of(Health::Degraded, Some(reason), message)
    }

    pub(crate) fn suspended(reason: &str, message: impl Into<String>) -> Self {
        Self::of(Health::Suspended, Some(reason), message)
    }
}

/// Health of one live object; `None` means it does not exist.
pub fn object_health(live: Option<&Value>) -> Health {
    assess(live).health
}

/// Health of one live object with its reason; `None` means it does not exist.
pub fn assess(live: Option<&Value>) -> Assessment {
    let Some(v) = live else {
        return Assessment::of(Health::Missing, None, "");
    };
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let group = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|a| a.rsplit_once('/').map_or("", |(g, _)| g));
    // Without an apiVersion (tests, hand-made values) the kind decides.
    let is = |groups: &[&str]| group.is_none_or(|g| groups.contains(&g));
    match kind {
        "Deployment" if is(&["apps"]) => apps::deployment(v),
        "StatefulSet" if is(&["apps"]) => apps::stateful_set(v),
        "DaemonSet" if is(&["apps"]) => apps::daemon_set(v),
        "ReplicaSet" if is(&["apps"]) => apps::replica_set(v),
        "Pod" if is(&[""]) => batch::pod(v),
        "Job" if is(&["batch"]) => batch::job(v),
        "CronJob" if is(&["batch"]) => batch::cron_job(v),
        "Service" if is(&[""]) => status::service(v),
        "Ingress" if is(&["networking.k8s.io", "extensions"]) => status::ingress(v),
        "PersistentVolumeClaim" if is(&[""]) => status::pvc(v),
        "HorizontalPodAutoscaler" if is(&["autoscaling"]) => status::hpa(v),
        _ if group.is_some_and(|g| !g.is_empty()) => status::conditions(v),
        _ => Assessment::healthy(),
    }
}

/// The application's health: the worst of its objects' (Healthy when
/// empty), in Argo CD's order with "not evaluated yet" just above Healthy.
pub fn worst(healths: impl IntoIterator<Item = Health>) -> Health {
    healths
        .into_iter()
        .max_by_key(|h| match h {
            Health::Healthy => 0,
            Health::Suspended => 1,
            Health::Unknown => 2,
            Health::Progressing => 3,
            Health::Missing => 4,
            Health::Degraded => 5,
        })
        .unwrap_or(Health::Healthy)
}

// === helpers shared by the rule modules ===

pub(crate) fn int(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

pub(crate) fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// `status.conditions[type == ty]`.
pub(crate) fn condition<'a>(v: &'a Value, ty: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

/// True while the controller has not seen the latest spec: `generation`
/// is set and `status.observedGeneration` is missing or older. Objects
/// without a generation (no controller tracks one) pass.
pub(crate) fn generation_pending(v: &Value) -> bool {
    match int(v, "/metadata/generation") {
        Some(g) => int(v, "/status/observedGeneration").is_none_or(|o| o < g),
        None => false,
    }
}

#[cfg(test)]
mod tests;
