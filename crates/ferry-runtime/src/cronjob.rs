//! The CronJob controller's writes: per CronJob, the Job `cron.rs` decides
//! to start (from `spec.jobTemplate`, owned by the CronJob, annotated with
//! its scheduled time), active Jobs replaced under `Replace`, finished Jobs
//! past the history limits deleted, status (`active`, `lastScheduleTime`,
//! `lastSuccessfulTime`), and the Jobs of deleted CronJobs removed.

use chrono::{DateTime, Utc};
use ferry_core::objects::StoredObject;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use serde_json::{Value, json};

use crate::clock::{parse, rfc3339};
use crate::cron::{Decision, Finished, Input, Schedule, decide, trim_history};
use crate::deploy::{Changes, owned_by};
use crate::job_plan::finished;
use crate::kinds::Kind;
use crate::runtime::Inner;
use crate::store::Key;

/// The annotation Kubernetes puts on a CronJob's Jobs.
const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Reconciles every CronJob; Jobs of deleted CronJobs are deleted.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let jobs: Vec<(Key, Job)> = inner
        .list(Kind::Job)
        .iter()
        .filter_map(|o| Some((Key::of(o), serde_json::from_value(o.value.clone()).ok()?)))
        .collect();
    let cjs = inner.list(Kind::CronJob);
    let uids: Vec<&str> = cjs
        .iter()
        .filter_map(|o| o.value.pointer("/metadata/uid")?.as_str())
        .collect();
    for o in &cjs {
        if let Ok(cj) = serde_json::from_value::<CronJob>(o.value.clone()) {
            cronjob(inner, o, &cj, &jobs, ch);
        }
    }
    for (key, j) in &jobs {
        let orphan = j.metadata.owner_references.iter().flatten().any(|r| {
            r.kind == "CronJob" && r.api_version == "batch/v1" && !uids.contains(&r.uid.as_str())
        });
        if orphan {
            ch.deletes.push(key.clone());
        }
    }
}

fn cronjob(inner: &Inner, o: &StoredObject, cj: &CronJob, jobs: &[(Key, Job)], ch: &mut Changes) {
    let ns = o.namespace.clone().unwrap_or_default();
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let spec = cj.spec.clone().unwrap_or_default();
    let Ok(schedule) = Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) else {
        return; // refused at apply; an older store may still hold one
    };
    let mine: Vec<&(Key, Job)> = jobs
        .iter()
        .filter(|(_, j)| owned_by(&j.metadata.owner_references, &uid))
        .collect();
    let status_of = |j: &Job| serde_json::to_value(&j.status).unwrap_or(Value::Null);
    let active: Vec<&(Key, Job)> = mine
        .iter()
        .copied()
        .filter(|(_, j)| finished(&status_of(j)).is_none())
        .collect();
    let now = inner.cfg.clock.utc();
    let mut status = o
        .value
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    let input = Input {
        name: &o.name,
        suspend: spec.suspend.unwrap_or(false),
        concurrency: spec.concurrency_policy.as_deref().unwrap_or("Allow"),
        starting_deadline_seconds: spec.starting_deadline_seconds,
        created: cj
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(now),
        last_schedule: status["lastScheduleTime"].as_str().and_then(parse),
        active: active.iter().map(|(k, _)| k.name.clone()).collect(),
        jobs: mine.iter().map(|(k, _)| k.name.clone()).collect(),
        now,
    };
    let mut active_names = input.active.clone();
    match decide(&schedule, &input) {
        Decision::Wait { .. } => {}
        Decision::Skip { scheduled } => {
            let msg = format!(
                "Not starting job because prior execution is running and concurrency policy is Forbid (schedule {})",
                rfc3339(scheduled)
            );
            if !inner
                .events
                .lock()
                .is_ok_and(|e| e.iter().any(|x| x.message == msg))
            {
                inner.event("CronJob", &ns, &o.name, false, "JobAlreadyActive", msg);
            }
        }
        Decision::Start {
            scheduled,
            job,
            replace,
        } => {
            for name in &replace {
                inner.event(
                    "CronJob",
                    &ns,
                    &o.name,
                    false,
                    "SuccessfulDelete",
                    format!("Deleted job {name}"),
                );
                ch.deletes.push(Key::new(Kind::Job.group_kind(), &ns, name));
                active_names.retain(|n| n != name);
            }
            ch.puts.push(new_job(o, &uid, &job, scheduled));
            inner.event(
                "CronJob",
                &ns,
                &o.name,
                false,
                "SuccessfulCreate",
                format!("Created job {job}"),
            );
            active_names.push(job);
            status["lastScheduleTime"] = json!(rfc3339(scheduled));
        }
    }
    history(inner, o, &spec, &mine, &status_of, ch, &mut status);
    status["active"] = json!(active_names
        .iter()
        .map(|n| {
            let uid = mine.iter().find(|(k, _)| &k.name == n).and_then(|(_, j)| j.metadata.uid.clone());
            json!({"apiVersion": "batch/v1", "kind": "Job", "name": n, "namespace": ns, "uid": uid})
        })
        .collect::<Vec<_>>());
    if status["active"].as_array().is_some_and(Vec::is_empty) {
        status.as_object_mut().map(|s| s.remove("active"));
    }
    if o.value.get("status") != Some(&status) {
        let mut value = o.value.clone();
        value["status"] = status;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

/// `lastSuccessfulTime`, and finished Jobs past the history limits deleted.
fn history(
    inner: &Inner,
    o: &StoredObject,
    spec: &k8s_openapi::api::batch::v1::CronJobSpec,
    mine: &[&(Key, Job)],
    status_of: &dyn Fn(&Job) -> Value,
    ch: &mut Changes,
    status: &mut Value,
) {
    let mut done = Vec::new();
    for (k, j) in mine {
        let st = status_of(j);
        let Some((ty, at)) = finished(&st) else {
            continue;
        };
        let started = st["startTime"]
            .as_str()
            .and_then(parse)
            .or_else(|| j.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let succeeded = ty == "Complete";
        if succeeded
            && let Some(t) = st["completionTime"]
                .as_str()
                .or(Some(at.as_str()))
                .and_then(parse)
            && status["lastSuccessfulTime"]
                .as_str()
                .and_then(parse)
                .is_none_or(|l: DateTime<Utc>| t > l)
        {
            status["lastSuccessfulTime"] = json!(rfc3339(t));
        }
        done.push(Finished {
            name: k.name.clone(),
            succeeded,
            started: started.unwrap_or_default(),
        });
    }
    let ns = o.namespace.clone().unwrap_or_default();
    let gone = trim_history(
        &done,
        spec.successful_jobs_history_limit.unwrap_or(3),
        spec.failed_jobs_history_limit.unwrap_or(1),
    );
    for name in gone {
        inner.event(
            "CronJob",
            &ns,
            &o.name,
            false,
            "SawCompletedJob",
            format!("Deleted job {name} past the history limit"),
        );
        ch.deletes
            .push(Key::new(Kind::Job.group_kind(), &ns, &name));
    }
}

/// The Job for `scheduled` from the CronJob's `jobTemplate`.
fn new_job(o: &StoredObject, uid: &str, name: &str, scheduled: DateTime<Utc>) -> StoredObject {
    let ns = o.namespace.clone().unwrap_or_default();
    let tpl = o
        .value
        .pointer("/spec/jobTemplate")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = tpl
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = json!(crate::runtime::now());
    meta["generation"] = json!(1);
    meta["annotations"][SCHEDULED] = json!(rfc3339(scheduled));
    meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": o.name,
        "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let value = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": tpl.get("spec").cloned().unwrap_or(json!({}))});
    StoredObject {
        group_kind: Kind::Job.group_kind(),
        namespace: Some(ns),
        name: name.to_string(),
        source: "controller".into(),
        value,
    }
}
