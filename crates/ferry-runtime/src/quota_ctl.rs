//! The runtime's side of LimitRange and ResourceQuota admission: apply runs
//! [`Admission`] over its change set (problems naming file and document),
//! the ReplicaSet and Job controllers run it for each pod they create (a
//! refused pod is not created: a `FailedCreate` event and, on ReplicaSets
//! and their Deployment, the `ReplicaFailure` condition), and the
//! controller loop keeps each ResourceQuota's `status.hard` / `status.used`.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use ferry_core::{Problem, Problems};
use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Value, json};

use crate::admission::{Admission, overlay, template_of};
use crate::deploy::Changes;
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::store::Key;

/// Whether a pod has finished (Succeeded or Failed): it no longer counts
/// against `pods` and compute quotas.
fn terminal(inner: &Inner, o: &StoredObject) -> bool {
    if o.group_kind != Kind::Pod.group_kind() {
        return false;
    }
    let Some(uid) = o.value.pointer("/metadata/uid").and_then(Value::as_str) else {
        return false;
    };
    let policy = o
        .value
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str);
    let known = inner.pods.lock_or_recover().get(uid).cloned();
    known.is_some_and(|rt| {
        crate::job::finished_phase(policy, &rt.lock_or_recover().status).is_some()
    })
}

fn problem(o: &StoredObject, path: Option<&str>, message: String) -> Problem {
    let (file, doc) = o
        .source
        .rsplit_once(" document ")
        .unwrap_or((&o.source, ""));
    let mut p = Problem::file(file, message);
    p.document = doc.parse().ok();
    p.object = Some(format!("{}/{}", o.group_kind.kind, o.name));
    p.path = path.map(str::to_string);
    p
}

/// Admits an apply's `puts` (in document order) against the LimitRanges
/// and quotas the namespace will have after it: pods are defaulted in
/// place; refusals become problems.
pub fn admit_apply(
    inner: &Inner,
    current: &[Arc<StoredObject>],
    puts: &mut [StoredObject],
    problems: &mut Problems,
) {
    let existing: Vec<&StoredObject> = current.iter().map(|o| &**o).collect();
    let is_term = |o: &StoredObject| terminal(inner, o);
    let mut adm = {
        let governing = overlay(&existing, puts);
        Admission::new(&governing, &existing, &is_term)
    };
    for o in puts.iter_mut() {
        let ns = o.namespace.clone().unwrap_or_default();
        if adm.idle(&ns) {
            continue;
        }
        let old = existing.iter().find(|e| Key::of(e) == Key::of(o)).copied();
        if let Err(why) = adm.admit(o, old, &is_term) {
            problems.push(problem(o, None, why));
        }
        if let Some((pointer, path)) = template_of(o) {
            let spec = o.value.pointer(pointer).cloned().unwrap_or(Value::Null);
            for why in adm.check_template(&ns, &spec) {
                let why = format!("pods created from this template would be forbidden: {why}");
                problems.push(problem(o, Some(path), why));
            }
        }
    }
}

/// Admits a pod a controller is about to create, against the store with
/// the pass's `pending` changes laid over it; the pod is defaulted in place.
pub fn admit_new_pod(
    inner: &Inner,
    pending: &[StoredObject],
    pod: &mut StoredObject,
) -> Result<(), String> {
    let ns = pod.namespace.clone().unwrap_or_default();
    let governed = [Kind::LimitRange, Kind::ResourceQuota].iter().any(|k| {
        inner
            .list(*k)
            .iter()
            .any(|o| o.namespace.as_deref() == Some(&ns))
    });
    if !governed {
        return Ok(());
    }
    let stored: Vec<Arc<StoredObject>> = inner
        .objects
        .lock_or_recover()
        .map
        .values()
        .cloned()
        .collect();
    let stored: Vec<&StoredObject> = stored.iter().map(|o| &**o).collect();
    let all = overlay(&stored, pending);
    let is_term = |o: &StoredObject| terminal(inner, o);
    Admission::new(&all, &all, &is_term).admit(pod, None, &is_term)
}

/// The reason of a refusal without the (generated) name of the refused pod.
fn refusal(message: &str) -> &str {
    message
        .split_once(" is forbidden: ")
        .map_or(message, |(_, why)| why)
}

/// Records a controller's refused pod creation as a `FailedCreate` warning,
/// once while the refusal stays the same (each attempt names a new pod;
/// Kubernetes counts the repeats).
pub fn failed_create(inner: &Inner, kind: &str, ns: &str, name: &str, why: &str) {
    let message = format!("Error creating: {why}");
    let object = format!("{kind}/{name}");
    let repeat = inner
        .events
        .lock_or_recover()
        .iter()
        .rev()
        .find(|e| e.object == object && e.namespace == ns)
        .is_some_and(|e| e.reason == "FailedCreate" && refusal(&e.message) == refusal(&message));
    if !repeat {
        inner.event(kind, ns, name, true, "FailedCreate", message);
    }
}

/// A ReplicaSet's status after a sync: the `ReplicaFailure` condition set
/// while pod creation fails (`why`), removed once a sync has no error.
pub fn replica_failure(status: &mut Value, old: Option<&Value>, why: Option<&str>) {
    let Some(why) = why else { return };
    let kept = old
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter().find(|c| {
                let message = c["message"].as_str().unwrap_or_default();
                c["type"] == "ReplicaFailure" && refusal(message) == refusal(why)
            })
        })
        .cloned();
    let cond = kept.unwrap_or_else(|| {
        json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": why, "lastTransitionTime": now()})
    });
    status["conditions"] = json!([cond]);
}

/// A Deployment's status carries the `ReplicaFailure` condition of its
/// newest ReplicaSet having one, as Kubernetes' Deployment controller copies it.
pub fn deployment_failure<'a>(status: &mut Value, rss: impl IntoIterator<Item = &'a ReplicaSet>) {
    let failure = rss.into_iter().find_map(|rs| {
        let conds = rs.status.as_ref()?.conditions.as_ref()?;
        conds.iter().find(|c| c.type_ == "ReplicaFailure").cloned()
    });
    if let (Some(c), Some(list)) = (failure, status["conditions"].as_array_mut()) {
        list.push(
            json!({"type": "ReplicaFailure", "status": c.status, "reason": c.reason,
            "message": c.message, "lastTransitionTime": c.last_transition_time}),
        );
    }
}

/// Keeps every ResourceQuota's `status.hard` and `status.used` current.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let quotas = inner.list(Kind::ResourceQuota);
    if quotas.is_empty() {
        return;
    }
    let stored: Vec<Arc<StoredObject>> = inner
        .objects
        .lock_or_recover()
        .map
        .values()
        .cloned()
        .collect();
    let stored: Vec<&StoredObject> = stored.iter().map(|o| &**o).collect();
    let is_term = |o: &StoredObject| terminal(inner, o);
    let adm = Admission::new(&stored, &stored, &is_term);
    for o in &quotas {
        let ns = o.namespace.as_deref().unwrap_or_default();
        let Some((_, status)) = adm.statuses(ns).into_iter().find(|(n, _)| *n == o.name) else {
            continue;
        };
        if o.value.get("status") != Some(&status) {
            let mut value = o.value.clone();
            value["status"] = status;
            ch.puts.push(StoredObject {
                value,
                ..(**o).clone()
            });
        }
    }
}
