//! Health of pods and of what runs pods to completion: Pod, Job, CronJob.

use serde_json::Value;

use super::{Assessment, condition, text};

/// Waiting reasons that mean a container cannot start: `ErrImagePull`,
/// `ImagePullBackOff`, `CrashLoopBackOff`, `CreateContainerConfigError`...
fn failing(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

fn statuses(v: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_array))
        .flatten()
}

/// A container waiting for a failing reason → Degraded with that reason,
/// whatever the phase; then by phase: Pending → Progressing, Succeeded →
/// Healthy, Failed → Degraded, Running → Healthy once Ready (a pod that
/// runs to completion stays Progressing while it runs).
pub(crate) fn pod(v: &Value) -> Assessment {
    for s in statuses(v) {
        if let Some(reason) = text(s, "/state/waiting/reason")
            && failing(reason)
        {
            let name = text(s, "/name").unwrap_or("?");
            let message = match text(s, "/state/waiting/message") {
                Some(m) => format!("container `{name}`: {m}"),
                None => format!("container `{name}` is waiting: {reason}"),
            };
            return Assessment::degraded(reason, message);
        }
    }
    let message = text(v, "/status/message").unwrap_or_default();
    match text(v, "/status/phase") {
        Some("Succeeded") => Assessment::healthy(),
        Some("Failed") => {
            let reason = text(v, "/status/reason")
                .or_else(|| statuses(v).find_map(|s| text(s, "/state/terminated/reason")))
                .unwrap_or("Failed");
            Assessment::degraded(reason, message)
        }
        Some("Running") => {
            let policy = text(v, "/spec/restartPolicy").unwrap_or("Always");
            let ready = condition(v, "Ready").and_then(|c| text(c, "/status")) == Some("True");
            if policy != "Always" {
                Assessment::progressing("pod is running to completion")
            } else if ready {
                Assessment::healthy()
            } else {
                Assessment::progressing("waiting for the pod's containers to be ready")
            }
        }
        Some("Pending") if !message.is_empty() => Assessment::progressing(message),
        _ => Assessment::progressing("pod is pending"),
    }
}

/// Suspended → Suspended; a `Failed` condition → Degraded with its reason
/// (`BackoffLimitExceeded`, `DeadlineExceeded`); `Complete` → Healthy.
pub(crate) fn job(v: &Value) -> Assessment {
    if v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Assessment::suspended("Suspended", "job is suspended");
    }
    let is_true = |ty: &str| condition(v, ty).filter(|c| text(c, "/status") == Some("True"));
    if let Some(c) = is_true("Failed") {
        let reason = text(c, "/reason").unwrap_or("JobFailed");
        return Assessment::degraded(reason, text(c, "/message").unwrap_or("job failed"));
    }
    if is_true("Complete").is_some() {
        return Assessment::healthy();
    }
    Assessment::progressing("job is running")
}

/// Suspended → Suspended; a running job → Progressing; never scheduled →
/// Healthy; a last scheduled run that did not succeed → Degraded.
pub(crate) fn cron_job(v: &Value) -> Assessment {
    if v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Assessment::suspended("Suspended", "cronjob is suspended");
    }
    if v.pointer("/status/active")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Assessment::progressing("a scheduled job is running");
    }
    let Some(scheduled) = text(v, "/status/lastScheduleTime") else {
        return Assessment::healthy();
    };
    // RFC 3339 times in UTC, as the API server writes them, sort as text.
    match text(v, "/status/lastSuccessfulTime") {
        Some(ok) if ok >= scheduled => Assessment::healthy(),
        _ => Assessment::degraded(
            "LastJobFailed",
            format!("the job scheduled at {scheduled} did not succeed"),
        ),
    }
}
