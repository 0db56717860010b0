//! The DaemonSet controller's writes: per DaemonSet, the pod on this node
//! (`<ds>-<random>`, labelled `controller-revision-hash` and
//! `pod-template-generation`, owned by the DaemonSet, with the tolerations
//! Kubernetes adds — a cordoned node still runs it — and node affinity to
//! the node by name) created and deleted as `daemonset_plan.rs` decides,
//! its status, and the pods of deleted DaemonSets removed.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use serde_json::{Value, json};

use crate::daemonset_plan::{self, DsInput, DsPod, Strategy};
use crate::deploy::{Changes, mark_deleted, owned_by, ready, template_hash};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::scheduling::{self, NodeView};

/// The label naming a daemon pod's template revision.
pub const REVISION_HASH: &str = "controller-revision-hash";

/// Reconciles every DaemonSet; pods of deleted DaemonSets are deleted.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let node = crate::node::view(inner);
    let pods: Vec<(Arc<StoredObject>, Pod)> = inner
        .list(Kind::Pod)
        .into_iter()
        .filter_map(|o| Some((o.clone(), serde_json::from_value(o.value.clone()).ok()?)))
        .collect();
    let sets = inner.list(Kind::DaemonSet);
    let uids: Vec<&str> = sets
        .iter()
        .filter_map(|o| o.value.pointer("/metadata/uid")?.as_str())
        .collect();
    for o in &sets {
        daemon_set(inner, o, &node, &pods, ch);
    }
    for (o, p) in &pods {
        let orphan = p.metadata.owner_references.iter().flatten().any(|r| {
            r.kind == "DaemonSet" && r.api_version == "apps/v1" && !uids.contains(&r.uid.as_str())
        });
        if orphan && p.metadata.deletion_timestamp.is_none() {
            ch.puts.push(mark_deleted(o));
        }
    }
}

/// The pod spec a DaemonSet's pods get on `node`: Kubernetes' tolerations
/// added, required node affinity replaced by the node's name.
pub fn pod_spec(template: &Value, node: &str) -> Value {
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    let mut tolerations: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in scheduling::daemon_tolerations() {
        let t = serde_json::to_value(t).unwrap_or(Value::Null);
        if !tolerations.contains(&t) {
            tolerations.push(t);
        }
    }
    spec["tolerations"] = json!(tolerations);
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    });
    spec
}

fn daemon_set(
    inner: &Inner,
    o: &StoredObject,
    node: &NodeView,
    pods: &[(Arc<StoredObject>, Pod)],
    ch: &mut Changes,
) {
    let ns = o.namespace.clone().unwrap_or_default();
    let uid = o
        .value
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = o
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let hash = template_hash(&template);
    let generation = o
        .value
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    // The template's own scheduling constraints, with the tolerations added.
    let mut check = template.get("spec").cloned().unwrap_or(json!({}));
    check["tolerations"] = pod_spec(&template, &node.name)["tolerations"].clone();
    let check: PodSpec = serde_json::from_value(check).unwrap_or_default();
    let mine: Vec<&(Arc<StoredObject>, Pod)> = pods
        .iter()
        .filter(|(_, p)| owned_by(&p.metadata.owner_references, uid))
        .collect();
    let input = DsInput {
        should_run: scheduling::fits(&check, node).is_ok(),
        hash: hash.clone(),
        generation,
        strategy: Strategy::of(o.value.pointer("/spec/updateStrategy")),
        pods: mine.iter().map(|(_, p)| view(inner, p)).collect(),
    };
    let plan = daemonset_plan::plan(&input);
    for name in &plan.delete {
        if let Some((po, _)) = mine.iter().find(|(po, _)| &po.name == name) {
            inner.event(
                "DaemonSet",
                &ns,
                &o.name,
                false,
                "SuccessfulDelete",
                format!("Deleted pod: {name}"),
            );
            ch.puts.push(mark_deleted(po));
        }
    }
    if plan.create {
        let mut pod = new_pod(&ns, &o.name, uid, &template, &hash, generation, &node.name);
        match crate::quota_ctl::admit_new_pod(inner, &ch.puts, &mut pod) {
            Err(why) => crate::quota_ctl::failed_create(inner, "DaemonSet", &ns, &o.name, &why),
            Ok(()) => {
                let message = format!("Created pod: {}", pod.name);
                inner.event(
                    "DaemonSet",
                    &ns,
                    &o.name,
                    false,
                    "SuccessfulCreate",
                    message,
                );
                ch.puts.push(pod);
            }
        }
    }
    if o.value.get("status") != Some(&plan.status) {
        let mut value = o.value.clone();
        value["status"] = plan.status;
        ch.puts.push(StoredObject { value, ..o.clone() });
    }
}

fn view(inner: &Inner, p: &Pod) -> DsPod {
    let labels = p.metadata.labels.as_ref();
    DsPod {
        name: p.metadata.name.clone().unwrap_or_default(),
        hash: labels
            .and_then(|l| l.get(REVISION_HASH))
            .cloned()
            .unwrap_or_default(),
        ready: ready(inner, p),
        deleting: p.metadata.deletion_timestamp.is_some(),
        created: p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| crate::clock::rfc3339(t.0))
            .unwrap_or_default(),
    }
}

/// A daemon pod from the template, labelled and owned as Kubernetes does.
fn new_pod(
    ns: &str,
    ds: &str,
    uid: &str,
    template: &Value,
    hash: &str,
    generation: i64,
    node: &str,
) -> StoredObject {
    let suffix: String = (0..5)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect();
    let name = format!("{ds}-{suffix}");
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    meta["labels"][REVISION_HASH] = json!(hash);
    meta["labels"]["pod-template-generation"] = json!(generation.to_string());
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
    meta["creationTimestamp"] = json!(now());
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds,
        "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let value = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec(template, node)});
    StoredObject {
        group_kind: Kind::Pod.group_kind(),
        namespace: Some(ns.to_string()),
        name,
        source: "controller".into(),
        value,
    }
}
