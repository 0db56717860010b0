//! The Job controller's decisions, pure and clock-injected, as Kubernetes'
//! Job controller makes them for non-indexed Jobs: how many pods to create
//! or delete (completions, parallelism, the exponential back-off between
//! retries), when the Job has failed (backoffLimit — failed pods under
//! `restartPolicy: Never`, container restarts under `OnFailure` —,
//! activeDeadlineSeconds, a podFailurePolicy `FailJob` rule) or completed,
//! and the status it reports. `job.rs` applies them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule};
use serde_json::{Value, json};

use crate::clock::rfc3339;

/// Where one of the Job's pods stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Active,
    Succeeded,
    Failed,
}

/// One pod of the Job, as the decisions need it.
#[derive(Debug, Clone)]
pub struct PodView {
    pub name: String,
    pub phase: Phase,
    pub deleting: bool,
    pub ready: bool,
    /// Restarts of its containers (init containers included).
    pub restarts: i32,
    /// `(container, exit code)` of its terminated containers.
    pub exit_codes: Vec<(String, i32)>,
    /// When it finished (its last container's finish time).
    pub finished: Option<DateTime<Utc>>,
    pub created: String,
}

/// The Job's spec and recorded status, with its pods, at `now`.
#[derive(Debug, Clone)]
pub struct JobInput<'a> {
    pub namespace: &'a str,
    pub completions: Option<i32>,
    pub parallelism: i32,
    pub backoff_limit: i32,
    pub active_deadline_seconds: Option<i64>,
    pub suspend: bool,
    pub on_failure: bool,
    pub rules: &'a [PodFailurePolicyRule],
    /// The stored `status` (null when none yet).
    pub status: &'a Value,
    pub pods: Vec<PodView>,
    pub now: DateTime<Utc>,
    /// First retry delay, doubled per failure up to the second value.
    pub backoff: (Duration, Duration),
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub create: usize,
    pub delete: Vec<String>,
    pub status: Value,
    /// `(reason, message, warning)` of the Job's events.
    pub events: Vec<(&'static str, String, bool)>,
}

/// True when the status holds a `Complete` or `Failed` condition.
pub fn finished(status: &Value) -> Option<(&'static str, String)> {
    for ty in ["Complete", "Failed"] {
        if let Some(c) = condition(status, ty) {
            return Some((ty, c["lastTransitionTime"].as_str().unwrap_or("").into()));
        }
    }
    None
}

fn condition<'a>(status: &'a Value, ty: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == ty && c["status"] == "True")
}

fn cond(ty: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": ty, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": now, "lastTransitionTime": now})
}

/// The first podFailurePolicy rule a failed pod matches: `(action, text)`.
fn matching_rule(
    rules: &[PodFailurePolicyRule],
    p: &PodView,
    ns: &str,
) -> Option<(String, String)> {
    rules.iter().enumerate().find_map(|(i, r)| {
        let req: &PodFailurePolicyOnExitCodesRequirement = r.on_exit_codes.as_ref()?;
        p.exit_codes.iter().find_map(|(c, code)| {
            let named = req.container_name.as_deref().is_none_or(|n| n == c);
            let listed = req.values.contains(code);
            let hit = named
                && *code != 0
                && match req.operator.as_str() {
                    "In" => listed,
                    "NotIn" => !listed,
                    _ => false,
                };
            hit.then(|| {
                (
                    r.action.clone(),
                    format!(
                        "Container {c} for pod {ns}/{} failed with exit code {code} matching {} rule at index {i}",
                        p.name, r.action
                    ),
                )
            })
        })
    })
}

/// The retry delay after `failures` failures.
fn retry_delay(backoff: (Duration, Duration), failures: i32) -> Duration {
    let shift = (failures.max(1) - 1).min(16) as u32;
    backoff.0.saturating_mul(1 << shift).min(backoff.1)
}

/// Kubernetes' syncJob for one non-indexed Job.
pub fn plan(j: &JobInput<'_>) -> Plan {
    let now = rfc3339(j.now);
    let mut status = if j.status.is_object() {
        j.status.clone()
    } else {
        json!({})
    };
    let live: Vec<&PodView> = j.pods.iter().filter(|p| !p.deleting).collect();
    let active: Vec<&PodView> = live
        .iter()
        .copied()
        .filter(|p| p.phase == Phase::Active)
        .collect();
    let mut out = Plan::default();
    if finished(&status).is_some() {
        // Done: whatever still runs goes; counts stay as recorded.
        out.delete = active.iter().map(|p| p.name.clone()).collect();
        status["active"] = json!(0);
        status["ready"] = json!(0);
        out.status = status;
        return out;
    }
    let succeeded = j
        .pods
        .iter()
        .filter(|p| p.phase == Phase::Succeeded)
        .count() as i32;
    let mut failed = 0;
    let mut fail_job = None;
    let mut last_failure: Option<DateTime<Utc>> = None;
    for p in j.pods.iter().filter(|p| p.phase == Phase::Failed) {
        let rule = matching_rule(j.rules, p, j.namespace);
        match rule.as_ref().map(|(a, _)| a.as_str()) {
            Some("Ignore") => continue,
            Some("FailJob") if fail_job.is_none() => fail_job = rule.map(|(_, m)| m),
            _ => {}
        }
        failed += 1;
        last_failure = last_failure.max(p.finished);
    }
    if status.get("startTime").is_none() && !j.suspend {
        status["startTime"] = json!(now);
    }
    let restarts: i32 = active.iter().map(|p| p.restarts).sum();
    let over_limit = failed > j.backoff_limit
        || (j.on_failure && restarts > 0 && restarts >= j.backoff_limit.max(1));
    let started = status["startTime"].as_str().and_then(crate::clock::parse);
    let deadline = j
        .active_deadline_seconds
        .zip(started)
        .is_some_and(|(s, t)| t + chrono::Duration::seconds(s) <= j.now);
    let failure = if let Some(m) = fail_job {
        Some(("PodFailurePolicy", m))
    } else if over_limit {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit".to_string(),
        ))
    } else if deadline {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline".to_string(),
        ))
    } else {
        None
    };
    let complete = match j.completions {
        Some(c) => succeeded >= c,
        None => succeeded >= 1 && active.is_empty(),
    };
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["ready"] = json!(active.iter().filter(|p| p.ready).count());
    if let Some((reason, message)) = failure {
        out.delete = active.iter().map(|p| p.name.clone()).collect();
        status["failed"] = json!(failed + active.len() as i32);
        status["active"] = json!(0);
        status["ready"] = json!(0);
        push_condition(&mut status, cond("FailureTarget", reason, &message, &now));
        push_condition(&mut status, cond("Failed", reason, &message, &now));
        out.events.push((reason, message, true));
        out.status = status;
        return out;
    }
    if complete {
        out.delete = active.iter().map(|p| p.name.clone()).collect();
        status["active"] = json!(0);
        status["completionTime"] = json!(now);
        push_condition(
            &mut status,
            cond(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now,
            ),
        );
        push_condition(
            &mut status,
            cond(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now,
            ),
        );
        out.events
            .push(("Completed", "Job completed".into(), false));
        out.status = status;
        return out;
    }
    let want = if j.suspend {
        0
    } else {
        match j.completions {
            Some(c) => j.parallelism.min(c - succeeded).max(0),
            None if succeeded > 0 => 0,
            None => j.parallelism.max(0),
        }
    } as usize;
    if active.len() > want {
        // The newest go first.
        let mut newest = active.clone();
        newest.sort_by(|a, b| (&b.created, &b.name).cmp(&(&a.created, &a.name)));
        let excess = active.len() - want;
        out.delete = newest[..excess].iter().map(|p| p.name.clone()).collect();
    } else if active.len() < want {
        let waiting = last_failure.is_some_and(|t| t + retry_delay(j.backoff, failed) > j.now);
        if !waiting {
            out.create = want - active.len();
        }
    }
    status["active"] = json!(active.len() + out.create - out.delete.len());
    if j.suspend {
        push_condition(
            &mut status,
            cond("Suspended", "JobSuspended", "Job suspended", &now),
        );
    } else if let Some(a) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        a.retain(|c| c["type"] != "Suspended");
    }
    out.status = status;
    out
}

/// Adds a condition unless one of its type is already true.
fn push_condition(status: &mut Value, c: Value) {
    if condition(status, c["type"].as_str().unwrap_or("")).is_some() {
        return;
    }
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    if let Some(a) = status["conditions"].as_array_mut() {
        a.push(c);
    }
}

#[cfg(test)]
#[path = "job_plan_tests.rs"]
mod tests;
