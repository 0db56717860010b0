//! A StatefulSet's volumeClaimTemplates: each ordinal's own
//! PersistentVolumeClaim `<template>-<sts>-<ordinal>`, created as an
//! ordinary claim (labelled with the selector's labels) before its pod and
//! mounted by it through a `persistentVolumeClaim` volume of the template's
//! name. Claims outlive their pods; `persistentVolumeClaimRetentionPolicy`
//! decides whether they outlive a scale-down (`whenScaled`) and the
//! StatefulSet (`whenDeleted`): `Retain`, the default, keeps them, `Delete`
//! marks them deleted once their pod is gone (the volume controller's
//! pvc-protection removes them when no pod uses them). The claims of a
//! `whenDeleted: Delete` set are owned by it, as Kubernetes marks them.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use k8s_openapi::api::apps::v1::StatefulSet;
use serde_json::{Value, json};

use crate::deploy::{Changes, mark_deleted};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::statefulset::ordinal_of;
use crate::statefulset_plan::Input;

/// Every stored claim.
fn all_claims(inner: &Inner) -> Vec<Arc<StoredObject>> {
    inner.list(Kind::PersistentVolumeClaim)
}

/// The claim marked for deletion (the volume controller removes it once
/// no pod uses it), unless it already is.
fn delete(c: &StoredObject, ch: &mut Changes) {
    if c.value.pointer("/metadata/deletionTimestamp").is_none() {
        ch.puts.push(mark_deleted(c));
    }
}

/// The claim templates' names.
fn templates(set: &Value) -> Vec<(String, Value)> {
    set.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.pointer("/metadata/name")?.as_str()?.to_string(),
                t.clone(),
            ))
        })
        .collect()
}

/// The claim of template `template` for pod `<set>-<ordinal>`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// Points the pod's volume of each claim template's name at its claim
/// (replacing a template volume of that name, as Kubernetes does).
pub fn mount(spec: &mut Value, set: &Value, set_name: &str, ordinal: i32) {
    let names = templates(set);
    if names.is_empty() {
        return;
    }
    let mut volumes: Vec<Value> = spec["volumes"].as_array().cloned().unwrap_or_default();
    volumes.retain(|v| !names.iter().any(|(n, _)| v["name"] == n.as_str()));
    for (n, _) in &names {
        volumes.push(json!({"name": n,
            "persistentVolumeClaim": {"claimName": claim_name(n, set_name, ordinal)}}));
    }
    spec["volumes"] = json!(volumes);
}

fn policy(s: &StatefulSet, deleted: bool) -> bool {
    let p = s
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let v = p.and_then(|p| {
        if deleted {
            p.when_deleted.as_deref()
        } else {
            p.when_scaled.as_deref()
        }
    });
    v == Some("Delete")
}

/// Creates the missing claims of pod `<set>-<ordinal>`.
pub fn ensure(inner: &Inner, o: &StoredObject, s: &StatefulSet, ordinal: i32, ch: &mut Changes) {
    let ns = o.namespace.clone().unwrap_or_default();
    let existing = all_claims(inner);
    let selector = o
        .value
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or(json!({}));
    for (tname, t) in templates(&o.value) {
        let name = claim_name(&tname, &o.name, ordinal);
        if existing
            .iter()
            .any(|c| c.namespace.as_deref() == Some(ns.as_str()) && c.name == name)
        {
            continue;
        }
        let mut meta = t.get("metadata").cloned().unwrap_or(json!({}));
        if let Some(sel) = selector.as_object() {
            for (k, v) in sel {
                meta["labels"][k] = v.clone();
            }
        }
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now());
        if policy(s, true) {
            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
                "name": o.name, "uid": s.metadata.uid, "controller": true,
                "blockOwnerDeletion": true}]);
        }
        let spec = t.get("spec").cloned().unwrap_or(json!({}));
        let value = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta, "spec": spec, "status": {"phase": "Pending"}});
        inner.event(
            "StatefulSet",
            &ns,
            &o.name,
            false,
            "SuccessfulCreate",
            format!(
                "create Claim {name} Pod {}-{ordinal} in StatefulSet {} success",
                o.name, o.name
            ),
        );
        ch.puts.push(StoredObject {
            group_kind: Kind::PersistentVolumeClaim.group_kind(),
            namespace: Some(ns.clone()),
            name,
            source: "controller".into(),
            value,
        });
    }
}

/// `whenScaled: Delete`: claims of ordinals scaled away whose pod is gone.
pub fn remove_scaled_down(
    inner: &Inner,
    o: &StoredObject,
    s: &StatefulSet,
    input: &Input,
    ch: &mut Changes,
) {
    if !policy(s, false) {
        return;
    }
    let ns = o.namespace.clone().unwrap_or_default();
    let in_range = |n: i32| (input.start..input.start + input.replicas.max(0)).contains(&n);
    for (tname, _) in templates(&o.value) {
        for c in all_claims(inner)
            .iter()
            .filter(|c| c.namespace.as_deref() == Some(ns.as_str()))
        {
            let Some(rest) = c.name.strip_prefix(&format!("{tname}-")) else {
                continue;
            };
            let Some(ordinal) = ordinal_of(&o.name, rest) else {
                continue;
            };
            let pod_gone = !input.pods.iter().any(|p| p.ordinal == ordinal);
            if !in_range(ordinal) && pod_gone {
                delete(c, ch);
            }
        }
    }
}

/// `whenDeleted: Delete`: claims owned by a StatefulSet that is gone.
pub fn remove_orphans(inner: &Inner, uids: &[String], ch: &mut Changes) {
    for c in all_claims(inner) {
        let owner = c
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| r["kind"] == "StatefulSet")
            .and_then(|r| r["uid"].as_str().map(str::to_string));
        if owner.is_some_and(|u| !uids.contains(&u)) {
            delete(&c, ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_volume_of_a_claim_name_is_replaced() {
        let set = json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}]}});
        let mut spec = json!({"volumes": [{"name": "data", "emptyDir": {}},
            {"name": "conf", "configMap": {"name": "c"}}]});
        mount(&mut spec, &set, "db", 2);
        assert_eq!(
            spec["volumes"],
            json!([{"name": "conf", "configMap": {"name": "c"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-2"}}])
        );
    }
}
