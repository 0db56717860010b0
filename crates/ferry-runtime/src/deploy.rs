//! The Deployment controller, level-triggered: per Deployment, a
//! ReplicaSet per pod-template hash (revision history), rolling update with
//! maxSurge/maxUnavailable gated on pod readiness (or Recreate), and status
//! with Available/Progressing conditions. Also the ReplicaSet controller
//! that creates and deletes pods to match each ReplicaSet's replicas.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deploy_replicaset::replicaset;
use crate::kinds::Kind;
use crate::rollout::{
    Owned, PodCount, revision, scale_recreate, scale_rolling, spec_replicas, status,
};
use crate::runtime::{Inner, now};
use crate::services::pod_ready;
use crate::store::Key;

pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
pub(crate) const HASH: &str = "pod-template-hash";

/// Changes the controllers want written.
#[derive(Debug, Default)]
pub struct Changes {
    pub puts: Vec<StoredObject>,
    pub deletes: Vec<Key>,
}

pub(crate) fn stored(kind: Kind, ns: &str, name: &str, value: Value) -> StoredObject {
    StoredObject {
        group_kind: kind.group_kind(),
        namespace: Some(ns.to_string()),
        name: name.to_string(),
        source: "controller".into(),
        value,
    }
}

pub(crate) fn owned_by(
    meta_owner: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    uid: &str,
) -> bool {
    meta_owner.iter().flatten().any(|o| o.uid == uid)
}

/// Pod readiness by pod uid.
pub(crate) fn ready(inner: &Inner, p: &Pod) -> bool {
    let Some(uid) = &p.metadata.uid else {
        return false;
    };
    let rt = inner.pod_rt(uid);
    let rt = rt.lock_or_recover();
    !rt.terminating && pod_ready(&rt.status)
}

pub(crate) fn percent(v: Option<&IntOrString>, total: i32, default: &str, round_up: bool) -> i32 {
    let v = v.cloned().unwrap_or(IntOrString::String(default.into()));
    match v {
        IntOrString::Int(n) => n,
        IntOrString::String(s) => {
            let p: i32 = s.trim_end_matches('%').parse().unwrap_or(25);
            let x = total * p;
            if round_up { (x + 99) / 100 } else { x / 100 }
        }
    }
}

/// Template hash of a pod template.
pub fn template_hash(template: &Value) -> String {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH);
    }
    hex::encode(&Sha256::digest(t.to_string().as_bytes())[..5])
}

/// Reconciles every Deployment and ReplicaSet.
pub fn reconcile(inner: &Inner) -> Changes {
    let mut ch = Changes::default();
    let rss: Vec<ReplicaSet> = inner
        .list(Kind::ReplicaSet)
        .iter()
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
        .collect();
    let pods: Vec<Pod> = inner
        .list(Kind::Pod)
        .iter()
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
        .collect();
    let mut rs_replicas: BTreeMap<(String, String), i32> = BTreeMap::new();
    for o in inner.list(Kind::Deployment) {
        let Ok(d) = serde_json::from_value::<Deployment>(o.value.clone()) else {
            continue;
        };
        deployment(inner, &o, &d, &rss, &pods, &mut ch, &mut rs_replicas);
    }
    // Orphaned ReplicaSets (their Deployment deleted) go away with their pods.
    for rs in &rss {
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        let owner = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .next()
            .map(|o| o.name.clone());
        let want = match rs_replicas.get(&(ns.clone(), name.clone())) {
            Some(n) => *n,
            None if owner.is_some_and(|d| inner.get(Kind::Deployment, &ns, &d).is_none()) => {
                ch.deletes
                    .push(Key::new(Kind::ReplicaSet.group_kind(), &ns, &name));
                0
            }
            None => rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        };
        replicaset(inner, rs, want, &pods, &mut ch);
    }
    ch
}

/// One Deployment: decides the replicas of its ReplicaSets (a new one when
/// the template is new), prunes revision history, writes its status.
fn deployment(
    inner: &Inner,
    o: &StoredObject,
    d: &Deployment,
    rss: &[ReplicaSet],
    pods: &[Pod],
    ch: &mut Changes,
    out: &mut BTreeMap<(String, String), i32>,
) {
    let Some(v) = Owned::of(o, d, rss) else {
        return;
    };
    let count = PodCount {
        inner,
        pods,
        ns: &v.ns,
    };
    let mut new_replicas = v.new_rs.map(spec_replicas).unwrap_or(0);
    if v.new_rs.is_none_or(|r| revision(r) < v.max_rev) {
        // A new template (or an undo to an old one): it becomes the newest revision.
        ch.puts.push(new_revision(inner, o, &v, new_replicas));
    }
    let olds: Vec<&ReplicaSet> = v
        .mine
        .iter()
        .filter(|r| r.metadata.name.as_deref() != Some(&v.rs_name))
        .copied()
        .collect();
    let mut old_replicas: Vec<(String, i32)> = olds
        .iter()
        .map(|r| {
            (
                r.metadata.name.clone().unwrap_or_default(),
                spec_replicas(r),
            )
        })
        .collect();
    new_replicas = if v.recreate() {
        scale_recreate(&v, &olds, &count, &mut old_replicas)
    } else {
        let budget = old_pods_budget(inner, &olds, pods);
        scale_rolling(&v, &count, new_replicas, &mut old_replicas, budget)
    };
    out.insert((v.ns.clone(), v.rs_name.clone()), new_replicas);
    for (name, n) in &old_replicas {
        out.insert((v.ns.clone(), name.clone()), *n);
    }
    prune_history(&v, &olds, &count, out, ch);
    let mut status = status(d, &v, &count);
    crate::quota_ctl::deployment_failure(
        &mut status,
        v.new_rs.into_iter().chain(v.mine.iter().copied()),
    );
    if o.value.get("status") != Some(&status) {
        let mut value = o.value.clone();
        value["status"] = status;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

/// The disruptions PodDisruptionBudgets allow the old ReplicaSets' pods
/// (`None`: no budget selects them).
fn old_pods_budget(inner: &Inner, olds: &[&ReplicaSet], pods: &[Pod]) -> Option<i32> {
    let uids: Vec<&str> = olds
        .iter()
        .filter_map(|r| r.metadata.uid.as_deref())
        .collect();
    let pod = pods.iter().find(|p| {
        p.metadata.deletion_timestamp.is_none()
            && p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| uids.contains(&r.uid.as_str()))
    })?;
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    crate::pdb::allowed_for(
        inner,
        &ns,
        &pod.metadata.labels.clone().unwrap_or_default(),
        pods,
    )
}

/// The ReplicaSet of the current template, as the newest revision
/// (keeping uid and creation time when it existed: an undo).
fn new_revision(inner: &Inner, o: &StoredObject, v: &Owned<'_>, replicas: i32) -> StoredObject {
    let (ns, hash, rs_name, new_rs) = (&v.ns, &v.hash, &v.rs_name, v.new_rs);
    let mut labels = v
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels[HASH] = json!(hash);
    let mut tpl = v.template.clone();
    tpl["metadata"]["labels"] = labels.clone();
    let mut selector = o
        .value
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(json!({}));
    selector["matchLabels"][HASH] = json!(hash);
    let existing_uid = new_rs
        .and_then(|r| r.metadata.uid.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name, "namespace": ns, "uid": existing_uid, "labels": labels,
            "creationTimestamp": new_rs.and_then(|r| r.metadata.creation_timestamp.as_ref()).map(|t| json!(t)).unwrap_or(json!(now())),
            "annotations": { REVISION: (v.max_rev + 1).to_string() },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": o.name, "uid": v.uid, "controller": true}],
        },
        "spec": { "replicas": replicas, "selector": selector, "template": tpl },
    });
    inner.event(
        "Deployment",
        ns,
        &o.name,
        false,
        "ScalingReplicaSet",
        format!("new revision {} uses replica set {rs_name}", v.max_rev + 1),
    );
    stored(Kind::ReplicaSet, ns, rs_name, value)
}

/// Revision history: keeps the newest `revisionHistoryLimit` empty old
/// ReplicaSets, deletes older empty ones.
fn prune_history(
    v: &Owned<'_>,
    olds: &[&ReplicaSet],
    count: &PodCount<'_>,
    out: &BTreeMap<(String, String), i32>,
    ch: &mut Changes,
) {
    let limit = v.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let empty_olds: Vec<&ReplicaSet> = olds
        .iter()
        .filter(|r| {
            out.get(&(v.ns.clone(), r.metadata.name.clone().unwrap_or_default())) == Some(&0)
                && count.of(r.metadata.name.as_deref().unwrap_or_default(), false) == 0
        })
        .copied()
        .collect();
    if empty_olds.len() > limit {
        for r in &empty_olds[..empty_olds.len() - limit] {
            ch.deletes.push(Key::new(
                Kind::ReplicaSet.group_kind(),
                &v.ns,
                r.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
    }
}

/// The pod with `metadata.deletionTimestamp` set (its worker then stops it).
pub fn mark_deleted(po: &StoredObject) -> StoredObject {
    let mut v = po.value.clone();
    v["metadata"]["deletionTimestamp"] = json!(now());
    StoredObject {
        value: v,
        ..po.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(percent(Some(&pct("25%")), 3, "25%", true), 1);
        assert_eq!(percent(Some(&pct("25%")), 3, "25%", false), 0);
        assert_eq!(percent(None, 10, "25%", true), 3);
        assert_eq!(percent(Some(&IntOrString::Int(2)), 10, "25%", false), 2);
    }

    #[test]
    fn template_hash_ignores_its_own_label() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "web:v1"}]}});
        let mut b = a.clone();
        b["metadata"]["labels"][HASH] = json!("x");
        assert_eq!(template_hash(&a), template_hash(&b));
        let mut c = a.clone();
        c["spec"]["containers"][0]["image"] = json!("web:v2");
        assert_ne!(template_hash(&a), template_hash(&c));
    }
}
