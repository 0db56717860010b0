//! The Job controller's writes: per Job, its pods (named `<job>-<random>`,
//! labelled `job-name`, `batch.kubernetes.io/job-name`, `controller-uid`
//! and `batch.kubernetes.io/controller-uid`, owned by the Job) created and
//! deleted as `job_plan.rs` decides, its status, `ttlSecondsAfterFinished`,
//! and the pods of deleted Jobs removed. Also a pod's finished phase.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use serde_json::{Value, json};

use crate::deploy::{Changes, mark_deleted, owned_by, ready};
use crate::job_plan::{self, JobInput, Phase, PodView};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::store::Key;

/// `Succeeded` or `Failed` once a pod's containers have all ended and
/// none will be restarted (`restartPolicy` Never, or OnFailure and all
/// exited 0); `None` while it runs or may run again.
pub fn finished_phase(restart_policy: Option<&str>, st: &PodStatus) -> Option<&'static str> {
    if st.phase.as_deref() == Some("Failed") {
        return Some("Failed");
    }
    let policy = restart_policy.unwrap_or("Always");
    let codes: Vec<i32> = st
        .container_statuses
        .iter()
        .flatten()
        .map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
        })
        .collect::<Option<_>>()?;
    if codes.is_empty() {
        return None;
    }
    let all_zero = codes.iter().all(|c| *c == 0);
    match policy {
        "Never" => Some(if all_zero { "Succeeded" } else { "Failed" }),
        "OnFailure" if all_zero => Some("Succeeded"),
        _ => None,
    }
}

/// Reconciles every Job; pods of deleted Jobs are deleted.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let pods: Vec<(Arc<StoredObject>, Pod)> = inner
        .list(Kind::Pod)
        .into_iter()
        .filter_map(|o| Some((o.clone(), serde_json::from_value(o.value.clone()).ok()?)))
        .collect();
    let jobs = inner.list(Kind::Job);
    let uids: Vec<String> = jobs
        .iter()
        .filter_map(|o| {
            o.value
                .pointer("/metadata/uid")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for o in &jobs {
        if let Ok(j) = serde_json::from_value::<Job>(o.value.clone()) {
            job(inner, o, &j, &pods, ch);
        }
    }
    for (o, p) in &pods {
        let orphan = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.kind == "Job" && r.api_version == "batch/v1" && !uids.contains(&r.uid));
        if orphan && p.metadata.deletion_timestamp.is_none() {
            ch.puts.push(mark_deleted(o));
        }
    }
}

fn view(inner: &Inner, p: &Pod) -> PodView {
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let st = inner.pod_rt(&uid).lock_or_recover().status.clone();
    let policy = p.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    let phase = match finished_phase(policy, &st) {
        Some("Succeeded") => Phase::Succeeded,
        Some(_) => Phase::Failed,
        None => Phase::Active,
    };
    let all = st.init_container_statuses.iter().flatten();
    let all = all.chain(st.container_statuses.iter().flatten());
    let terminated: Vec<_> = all
        .clone()
        .filter_map(|c| Some((c.name.clone(), c.state.as_ref()?.terminated.clone()?)))
        .collect();
    PodView {
        name: p.metadata.name.clone().unwrap_or_default(),
        phase,
        deleting: p.metadata.deletion_timestamp.is_some(),
        ready: ready(inner, p),
        restarts: all.map(|c| c.restart_count).sum(),
        exit_codes: terminated
            .iter()
            .map(|(n, t)| (n.clone(), t.exit_code))
            .collect(),
        finished: terminated
            .iter()
            .filter_map(|(_, t)| t.finished_at.as_ref().map(|f| f.0))
            .max(),
        created: p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| crate::clock::rfc3339(t.0))
            .unwrap_or_default(),
    }
}

fn job(
    inner: &Inner,
    o: &StoredObject,
    j: &Job,
    pods: &[(Arc<StoredObject>, Pod)],
    ch: &mut Changes,
) {
    let ns = o.namespace.clone().unwrap_or_default();
    let uid = j.metadata.uid.clone().unwrap_or_default();
    let spec = j.spec.clone().unwrap_or_default();
    let clock_now = inner.cfg.clock.utc();
    if ttl_expired(&o.value, spec.ttl_seconds_after_finished, clock_now) {
        inner.event(
            "Job",
            &ns,
            &o.name,
            false,
            "Deleted",
            "ttlSecondsAfterFinished passed",
        );
        ch.deletes.push(Key::of(o));
        return;
    }
    let mine: Vec<&(Arc<StoredObject>, Pod)> = pods
        .iter()
        .filter(|(_, p)| owned_by(&p.metadata.owner_references, &uid))
        .collect();
    let policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone());
    let rules = spec.pod_failure_policy.map(|p| p.rules).unwrap_or_default();
    let status = o.value.get("status").cloned().unwrap_or(Value::Null);
    let input = JobInput {
        namespace: &ns,
        completions: spec.completions,
        parallelism: spec.parallelism.unwrap_or(1),
        backoff_limit: spec.backoff_limit.unwrap_or(6),
        active_deadline_seconds: spec.active_deadline_seconds,
        suspend: spec.suspend.unwrap_or(false),
        on_failure: policy.as_deref() == Some("OnFailure"),
        rules: &rules,
        status: &status,
        pods: mine.iter().map(|(_, p)| view(inner, p)).collect(),
        now: clock_now,
        backoff: (inner.cfg.backoff_base, inner.cfg.backoff_max),
    };
    let plan = job_plan::plan(&input);
    for (reason, message, warning) in &plan.events {
        inner.event("Job", &ns, &o.name, *warning, reason, message.clone());
    }
    for name in &plan.delete {
        if let Some((po, _)) = mine.iter().find(|(po, _)| &po.name == name) {
            inner.event(
                "Job",
                &ns,
                &o.name,
                false,
                "SuccessfulDelete",
                format!("Deleted pod: {name}"),
            );
            ch.puts.push(mark_deleted(po));
        }
    }
    let template = o
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    for _ in 0..plan.create {
        let mut pod = new_pod(&ns, &o.name, &uid, &template);
        if let Err(why) = crate::quota_ctl::admit_new_pod(inner, &ch.puts, &mut pod) {
            crate::quota_ctl::failed_create(inner, "Job", &ns, &o.name, &why);
            break;
        }
        inner.event(
            "Job",
            &ns,
            &o.name,
            false,
            "SuccessfulCreate",
            format!("Created pod: {}", pod.name),
        );
        ch.puts.push(pod);
    }
    if o.value.get("status") != Some(&plan.status) {
        let mut value = o.value.clone();
        value["status"] = plan.status;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

/// True once a finished Job's `ttlSecondsAfterFinished` has passed.
fn ttl_expired(job: &Value, ttl: Option<i32>, now: chrono::DateTime<chrono::Utc>) -> bool {
    let Some(ttl) = ttl else { return false };
    let status = job.get("status").cloned().unwrap_or(Value::Null);
    job_plan::finished(&status)
        .and_then(|(_, at)| crate::clock::parse(&at))
        .is_some_and(|t| t + chrono::Duration::seconds(ttl.into()) <= now)
}

/// A pod of Job `job` from its template, with the labels Kubernetes gives.
fn new_pod(ns: &str, job: &str, uid: &str, template: &Value) -> StoredObject {
    let suffix: String = (0..5)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect();
    let name = format!("{job}-{suffix}");
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", job),
        ("controller-uid", uid),
        ("job-name", job),
    ] {
        meta["labels"][k] = json!(v);
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = json!(now());
    meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": job,
        "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let spec = template.get("spec").cloned().unwrap_or(json!({}));
    let value = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    StoredObject {
        group_kind: Kind::Pod.group_kind(),
        namespace: Some(ns.to_string()),
        name,
        source: "controller".into(),
        value,
    }
}
