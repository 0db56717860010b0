//! The StatefulSet controller's writes: per StatefulSet, a ControllerRevision
//! per pod template (`<sts>-<hash>`, numbered as Kubernetes numbers them),
//! pods `<sts>-<ordinal>` created and deleted as `statefulset_plan.rs`
//! decides — hostname the pod's name, subdomain `spec.serviceName`, labels
//! `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//! `controller-revision-hash`, each claim template's PersistentVolumeClaim
//! (`statefulset_claims.rs`) created before the pod and mounted by it — and
//! the status. Pods and revisions of deleted StatefulSets are removed.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::deploy::{Changes, mark_deleted, owned_by, ready, template_hash};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::statefulset_claims as claims;
use crate::statefulset_plan::{self, Input, PodView, Strategy};
use crate::store::Key;

pub(crate) const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
pub(crate) const POD_INDEX: &str = "apps.kubernetes.io/pod-index";
pub(crate) const REVISION_HASH: &str = "controller-revision-hash";

/// Reconciles every StatefulSet; pods and revisions of deleted ones go.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let pods: Vec<(Arc<StoredObject>, Pod)> = inner
        .list(Kind::Pod)
        .into_iter()
        .filter_map(|o| Some((o.clone(), serde_json::from_value(o.value.clone()).ok()?)))
        .collect();
    let revisions = inner.list(Kind::ControllerRevision);
    let sets = inner.list(Kind::StatefulSet);
    let uids: Vec<String> = sets.iter().filter_map(|o| uid_of(&o.value)).collect();
    for o in &sets {
        if let Ok(s) = serde_json::from_value::<StatefulSet>(o.value.clone()) {
            statefulset(inner, o, &s, &pods, &revisions, ch);
        }
    }
    let orphan = |v: &Value| {
        v.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| r["kind"] == "StatefulSet" && !uids.iter().any(|u| r["uid"] == u.as_str()))
    };
    for (o, p) in &pods {
        if orphan(&o.value) && p.metadata.deletion_timestamp.is_none() {
            ch.puts.push(mark_deleted(o));
        }
    }
    for r in revisions.iter().filter(|r| orphan(&r.value)) {
        ch.deletes.push(Key::of(r));
    }
    claims::remove_orphans(inner, &uids, ch);
}

fn uid_of(v: &Value) -> Option<String> {
    v.pointer("/metadata/uid")?.as_str().map(str::to_string)
}

/// The ordinal of pod `name` of StatefulSet `set`, if it is one.
pub(crate) fn ordinal_of(set: &str, name: &str) -> Option<i32> {
    let n = name.strip_prefix(set)?.strip_prefix('-')?;
    (!n.starts_with('+')).then(|| n.parse().ok()).flatten()
}

fn statefulset(
    inner: &Inner,
    o: &StoredObject,
    s: &StatefulSet,
    pods: &[(Arc<StoredObject>, Pod)],
    revisions: &[Arc<StoredObject>],
    ch: &mut Changes,
) {
    let Some(spec) = &s.spec else { return };
    let ns = o.namespace.clone().unwrap_or_default();
    let uid = s.metadata.uid.clone().unwrap_or_default();
    let template = o
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mine_revs: Vec<&Arc<StoredObject>> = revisions
        .iter()
        .filter(|r| {
            r.namespace.as_deref() == Some(ns.as_str()) && owner_uid(&r.value) == Some(uid.as_str())
        })
        .collect();
    let update_revision = format!("{}-{}", o.name, template_hash(&template));
    if let Some(r) = revision_write(o, &uid, &update_revision, &template, &mine_revs) {
        ch.puts.push(r);
    }
    let status = o.value.get("status").cloned().unwrap_or(Value::Null);
    let mut current_revision = status["currentRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !mine_revs.iter().any(|r| r.name == current_revision) {
        current_revision = String::new();
    }
    let mine: Vec<&(Arc<StoredObject>, Pod)> = pods
        .iter()
        .filter(|(_, p)| owned_by(&p.metadata.owner_references, &uid))
        .collect();
    let views: Vec<PodView> = mine
        .iter()
        .filter_map(|(po, p)| {
            Some(PodView {
                ordinal: ordinal_of(&o.name, &po.name)?,
                name: po.name.clone(),
                revision: p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(REVISION_HASH))
                    .cloned()
                    .unwrap_or_default(),
                healthy: ready(inner, p),
                deleting: p.metadata.deletion_timestamp.is_some(),
            })
        })
        .collect();
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let input = Input {
        start: spec.ordinals.as_ref().and_then(|x| x.start).unwrap_or(0),
        replicas: spec.replicas.unwrap_or(1),
        parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
        strategy: match strategy.type_.as_deref() {
            Some("OnDelete") => Strategy::OnDelete,
            _ => Strategy::RollingUpdate {
                partition: strategy
                    .rolling_update
                    .and_then(|r| r.partition)
                    .unwrap_or(0),
            },
        },
        update_revision: update_revision.clone(),
        current_revision: if current_revision.is_empty() {
            update_revision.clone()
        } else {
            current_revision
        },
        pods: views,
    };
    let plan = statefulset_plan::plan(&input);
    for (ordinal, revision) in &plan.create {
        let tpl = mine_revs
            .iter()
            .find(|r| &r.name == revision)
            .and_then(|r| r.value.pointer("/data/spec/template"))
            .unwrap_or(&template);
        let mut pod = new_pod(o, &uid, *ordinal, revision, tpl);
        if let Err(why) = crate::quota_ctl::admit_new_pod(inner, &ch.puts, &mut pod) {
            crate::quota_ctl::failed_create(inner, "StatefulSet", &ns, &o.name, &why);
            break;
        }
        claims::ensure(inner, o, s, *ordinal, ch);
        inner.event(
            "StatefulSet",
            &ns,
            &o.name,
            false,
            "SuccessfulCreate",
            format!(
                "create Pod {} in StatefulSet {} successful",
                pod.name, o.name
            ),
        );
        ch.puts.push(pod);
    }
    for name in &plan.delete {
        if let Some((po, _)) = mine.iter().find(|(po, _)| &po.name == name) {
            inner.event(
                "StatefulSet",
                &ns,
                &o.name,
                false,
                "SuccessfulDelete",
                format!("delete Pod {name} in StatefulSet {} successful", o.name),
            );
            ch.puts.push(mark_deleted(po));
        }
    }
    claims::remove_scaled_down(inner, o, s, &input, ch);
    write_status(o, s, &input, ch);
}

fn owner_uid(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences/0/uid")?.as_str()
}

fn write_status(o: &StoredObject, s: &StatefulSet, input: &Input, ch: &mut Changes) {
    let c = statefulset_plan::counts(input);
    let status = json!({
        "observedGeneration": s.metadata.generation.unwrap_or(1),
        "replicas": c.replicas,
        "readyReplicas": c.ready,
        "availableReplicas": c.ready,
        "currentReplicas": c.current,
        "updatedReplicas": c.updated,
        "currentRevision": c.current_revision,
        "updateRevision": input.update_revision,
        "collisionCount": 0,
    });
    if o.value.get("status") != Some(&status) {
        let mut value = o.value.clone();
        value["status"] = status;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

/// The ControllerRevision of the current template, when it is missing or
/// not the newest (an undo to an old template makes it the newest again).
fn revision_write(
    o: &StoredObject,
    uid: &str,
    name: &str,
    template: &Value,
    mine: &[&Arc<StoredObject>],
) -> Option<StoredObject> {
    let number = |r: &StoredObject| r.value["revision"].as_i64().unwrap_or(0);
    let max = mine.iter().map(|r| number(r)).max().unwrap_or(0);
    let existing = mine.iter().find(|r| r.name == name);
    if existing.is_some_and(|r| number(r) == max) {
        return None;
    }
    let ns = o.namespace.clone().unwrap_or_default();
    let (ruid, created) = existing
        .map(|r| {
            (
                r.value["metadata"]["uid"].clone(),
                r.value["metadata"]["creationTimestamp"].clone(),
            )
        })
        .unwrap_or_else(|| (json!(uuid::Uuid::new_v4().to_string()), json!(now())));
    let hash = name.rsplit('-').next().unwrap_or_default();
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels["controller.kubernetes.io/hash"] = json!(hash);
    let value = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": ns, "uid": ruid, "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": o.name,
                "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
        "data": {"spec": {"template": template}},
        "revision": max + 1,
    });
    Some(StoredObject {
        group_kind: Kind::ControllerRevision.group_kind(),
        namespace: Some(ns),
        name: name.to_string(),
        source: "controller".into(),
        value,
    })
}

/// Pod `<sts>-<ordinal>` from the template of `revision`.
fn new_pod(o: &StoredObject, uid: &str, ordinal: i32, revision: &str, tpl: &Value) -> StoredObject {
    let ns = o.namespace.clone().unwrap_or_default();
    let name = format!("{}-{ordinal}", o.name);
    let mut meta = tpl.get("metadata").cloned().unwrap_or(json!({}));
    let index = ordinal.to_string();
    for (k, v) in [
        (POD_NAME, name.as_str()),
        (POD_INDEX, index.as_str()),
        (REVISION_HASH, revision),
    ] {
        meta["labels"][k] = json!(v);
    }
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = json!(now());
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
        "name": o.name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let mut spec = tpl.get("spec").cloned().unwrap_or(json!({}));
    spec["hostname"] = json!(name);
    if let Some(svc) = o.value.pointer("/spec/serviceName").and_then(Value::as_str)
        && !svc.is_empty()
    {
        spec["subdomain"] = json!(svc);
    }
    claims::mount(&mut spec, &o.value, &o.name, ordinal);
    let value = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    StoredObject {
        group_kind: Kind::Pod.group_kind(),
        namespace: Some(ns),
        name,
        source: "controller".into(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinds_are_named_as_kubectl_names_them() {
        assert_eq!(Kind::from_cli("sts"), Some(Kind::StatefulSet));
        assert_eq!(Kind::from_cli("statefulsets.apps"), Some(Kind::StatefulSet));
        assert_eq!(Kind::StatefulSet.api_version(), "apps/v1");
        assert_eq!(
            Kind::from_cli("controllerrevisions"),
            Some(Kind::ControllerRevision)
        );
    }

    #[test]
    fn ordinals_are_read_from_pod_names() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webx-1"), None);
        assert_eq!(ordinal_of("web", "web-+1"), None);
        assert_eq!(ordinal_of("web-a", "web-a-3"), Some(3));
    }

    #[test]
    fn pods_carry_their_identity() {
        let o = StoredObject {
            group_kind: Kind::StatefulSet.group_kind(),
            namespace: Some("default".into()),
            name: "web".into(),
            source: "m.yaml".into(),
            value: json!({"spec": {"serviceName": "nginx", "volumeClaimTemplates": [
                {"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        };
        let tpl = json!({"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let p = new_pod(&o, "u1", 1, "web-abc", &tpl).value;
        assert_eq!(p["metadata"]["name"], "web-1");
        assert_eq!(p["metadata"]["labels"][POD_NAME], "web-1");
        assert_eq!(p["metadata"]["labels"][POD_INDEX], "1");
        assert_eq!(p["metadata"]["labels"][REVISION_HASH], "web-abc");
        assert_eq!(p["metadata"]["labels"]["app"], "nginx");
        assert_eq!(p["spec"]["hostname"], "web-1");
        assert_eq!(p["spec"]["subdomain"], "nginx");
        assert_eq!(
            p["spec"]["volumes"][0],
            json!({"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}})
        );
    }
}
