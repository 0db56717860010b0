//! Validation of the batch kinds (Job, CronJob) as the API server does it:
//! the pod template (restartPolicy Never or OnFailure, required), counts
//! not negative, podFailurePolicy only with `Never` and with actions and
//! operators Kubernetes knows, the schedule and time zone; and a Job's pod
//! template refused as immutable once stored.

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::batch::v1::{CronJob, JobSpec};
use serde_json::Value;

use crate::validate;

type Found = Vec<Problem>;

/// A Job's spec at `base` (`spec`, or `spec.jobTemplate.spec`).
pub fn job_spec(doc: &Document, base: &str, spec: Option<&JobSpec>, out: &mut Found) {
    let Some(spec) = spec else {
        out.push(doc.problem(base, "a Job needs a spec with a pod template"));
        return;
    };
    for (field, v) in [
        ("completions", spec.completions),
        ("parallelism", spec.parallelism),
        ("backoffLimit", spec.backoff_limit),
        ("ttlSecondsAfterFinished", spec.ttl_seconds_after_finished),
    ] {
        if v.is_some_and(|n| n < 0) {
            out.push(doc.problem(&format!("{base}.{field}"), "must not be negative"));
        }
    }
    if spec.active_deadline_seconds.is_some_and(|n| n <= 0) {
        out.push(doc.problem(
            &format!("{base}.activeDeadlineSeconds"),
            "must be greater than 0",
        ));
    }
    if spec
        .completion_mode
        .as_deref()
        .is_some_and(|m| m != "NonIndexed")
    {
        out.push(doc.problem(
            &format!("{base}.completionMode"),
            "ferry runs NonIndexed Jobs only: drop completionMode or set it to NonIndexed",
        ));
    }
    let tpl = format!("{base}.template.spec");
    let Some(pod) = &spec.template.spec else {
        out.push(doc.problem(&tpl, "a Job's pod template needs a spec"));
        return;
    };
    validate::pod_spec(doc, &tpl, pod, out);
    let policy = pod.restart_policy.as_deref();
    if !matches!(policy, Some("Never" | "OnFailure")) {
        out.push(doc.problem(
            &format!("{tpl}.restartPolicy"),
            format!(
                "a Job's pods need restartPolicy Never or OnFailure (got {})",
                policy.unwrap_or("none, which means Always")
            ),
        ));
    }
    let Some(pfp) = &spec.pod_failure_policy else {
        return;
    };
    if policy != Some("Never") {
        out.push(doc.problem(
            &format!("{base}.podFailurePolicy"),
            "a podFailurePolicy needs the pod template's restartPolicy to be Never",
        ));
    }
    for (i, r) in pfp.rules.iter().enumerate() {
        let at = format!("{base}.podFailurePolicy.rules[{i}]");
        if !matches!(
            r.action.as_str(),
            "FailJob" | "Ignore" | "Count" | "FailIndex"
        ) {
            out.push(doc.problem(
                &format!("{at}.action"),
                format!(
                    "`{}` is not one of FailJob, Ignore, Count, FailIndex",
                    r.action
                ),
            ));
        }
        match &r.on_exit_codes {
            Some(e) if !matches!(e.operator.as_str(), "In" | "NotIn") => out.push(doc.problem(
                &format!("{at}.onExitCodes.operator"),
                format!("`{}` is not one of In, NotIn", e.operator),
            )),
            Some(e) if e.operator == "In" && e.values.contains(&0) => out.push(doc.problem(
                &format!("{at}.onExitCodes.values"),
                "0 is not a failure: it cannot be listed with In",
            )),
            _ => {}
        }
    }
}

/// A CronJob: its schedule, time zone, policy and Job template.
pub fn cronjob(doc: &Document, cj: &CronJob, out: &mut Found) {
    let Some(spec) = &cj.spec else {
        out.push(doc.problem(
            "spec",
            "a CronJob needs a spec with a schedule and a jobTemplate",
        ));
        return;
    };
    if let Err((field, message)) =
        crate::cron::Schedule::parse(&spec.schedule, spec.time_zone.as_deref())
    {
        out.push(doc.problem(&format!("spec.{field}"), message));
    }
    if let Some(p) = spec.concurrency_policy.as_deref()
        && !matches!(p, "Allow" | "Forbid" | "Replace")
    {
        out.push(doc.problem(
            "spec.concurrencyPolicy",
            format!("`{p}` is not one of Allow, Forbid, Replace"),
        ));
    }
    for (field, v) in [
        (
            "successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit,
        ),
        ("failedJobsHistoryLimit", spec.failed_jobs_history_limit),
    ] {
        if v.is_some_and(|n| n < 0) {
            out.push(doc.problem(&format!("spec.{field}"), "must not be negative"));
        }
    }
    if spec.starting_deadline_seconds.is_some_and(|n| n < 0) {
        out.push(doc.problem("spec.startingDeadlineSeconds", "must not be negative"));
    }
    job_spec(
        doc,
        "spec.jobTemplate.spec",
        spec.job_template.spec.as_ref(),
        out,
    );
}

/// A Job's pod template may not change (Kubernetes: "field is
/// immutable"): the message for a re-applied Job whose template differs.
pub fn template_changed(old: &Value, new: &Value) -> Option<String> {
    let (a, b) = (old.pointer("/spec/template"), new.pointer("/spec/template"));
    (a != b).then(|| {
        "field is immutable: a Job's pod template cannot change; delete the Job \
         (ferry delete job/NAME) and apply it again"
            .to_string()
    })
}
