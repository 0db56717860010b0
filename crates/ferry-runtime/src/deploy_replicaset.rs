//! The ReplicaSet half of the Deployment controller: a ReplicaSet's pods
//! created up to and deleted down to its wanted count (least ready and
//! youngest first), and its status written back.

use ferry_core::objects::StoredObject;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::deploy::{Changes, mark_deleted, owned_by, ready, stored};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};

pub(crate) fn replicaset(
    inner: &Inner,
    rs: &ReplicaSet,
    want: i32,
    pods: &[Pod],
    ch: &mut Changes,
) {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let Some(obj) = inner.get(Kind::ReplicaSet, &ns, &name) else {
        return;
    };
    if ch
        .puts
        .iter()
        .any(|p| p.group_kind == obj.group_kind && p.name == name && p.namespace == obj.namespace)
    {
        // Rewritten by its Deployment this round; reconciled next round.
        return;
    }
    let mut live: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none() && owned_by(&p.metadata.owner_references, &uid)
        })
        .collect();
    let have = live.len() as i32;
    let mut failure = None;
    if have < want {
        let template = obj
            .value
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(json!({}));
        for _ in have..want {
            let suffix: String = (0..5)
                .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
                .collect();
            let pod_name = format!("{name}-{suffix}");
            let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
            meta["name"] = json!(pod_name);
            meta["namespace"] = json!(ns);
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
            meta["creationTimestamp"] = json!(now());
            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid, "controller": true}]);
            let value = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
            let mut pod = stored(Kind::Pod, &ns, &pod_name, value);
            if let Err(why) = crate::quota_ctl::admit_new_pod(inner, &ch.puts, &mut pod) {
                crate::quota_ctl::failed_create(inner, "ReplicaSet", &ns, &name, &why);
                failure = Some(why);
                break;
            }
            inner.event(
                "ReplicaSet",
                &ns,
                &name,
                false,
                "SuccessfulCreate",
                format!("created pod: {pod_name}"),
            );
            ch.puts.push(pod);
        }
    } else if have > want {
        // Not-ready pods first, then the newest.
        live.sort_by_key(|p| {
            (
                ready(inner, p),
                std::cmp::Reverse(p.metadata.creation_timestamp.clone()),
            )
        });
        for p in live.iter().take((have - want) as usize) {
            let pname = p.metadata.name.clone().unwrap_or_default();
            inner.event(
                "ReplicaSet",
                &ns,
                &name,
                false,
                "SuccessfulDelete",
                format!("deleted pod: {pname}"),
            );
            if let Some(po) = inner.get(Kind::Pod, &ns, &pname) {
                ch.puts.push(mark_deleted(&po));
            }
        }
    }
    let replicas_now = obj
        .value
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let ready_n = live.iter().filter(|p| ready(inner, p)).count();
    let mut status = json!({"replicas": live.len().min(want.max(0) as usize).max(have.min(want) as usize), "readyReplicas": ready_n, "availableReplicas": ready_n});
    crate::quota_ctl::replica_failure(&mut status, obj.value.get("status"), failure.as_deref());
    if replicas_now != want as i64 || obj.value.get("status") != Some(&status) {
        let mut v = obj.value.clone();
        v["spec"]["replicas"] = json!(want);
        v["status"] = status;
        ch.puts.push(StoredObject {
            value: v,
            ..(*obj).clone()
        });
    }
}
