//! The Knative Service controller's reads and writes, each round: per
//! Service, `knative_plan` decides Revisions, routes and status; per
//! Revision, `knative_scale` decides its pods from the load the gateway
//! pushed (`knative_load`), and its Deployment and Service
//! (`knative_objects`) are written when they differ; Revisions of deleted
//! Services go with their Deployments and Services; the routes and the
//! revisions the activator guards are published to the gateway.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use ferry_core::mesh::ServiceKey;
use ferry_core::objects::StoredObject;
use ferry_core::serving::{ServingRevision, ServingSnapshot};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deploy::Changes;
use crate::kinds::Kind;
use crate::knative_objects::{self as objects, RevisionId};
use crate::knative_plan::{self, RevisionInfo, cond};
use crate::knative_prewarm as prewarm;
use crate::knative_scale::desired;
use crate::knative_spec::{KService, LABEL_CONFIGURATION_GENERATION, ScaleSettings, TEMPLATE_HASH};
use crate::runtime::{Inner, now};
use crate::store::Key;

/// Reconciles every Knative Service and publishes the routes.
pub fn reconcile(inner: &Arc<Inner>, ch: &mut Changes) {
    let svcs = inner.list(Kind::KnativeService);
    let revs = inner.list(Kind::Revision);
    let mut snap = ServingSnapshot::default();
    let mut uids = BTreeSet::new();
    for o in &svcs {
        let Ok(svc) = serde_json::from_value::<KService>(o.value.clone()) else {
            continue;
        };
        let uid = svc.metadata.uid.clone().unwrap_or_default();
        uids.insert(uid.clone());
        service(inner, o, &svc, &uid, &revs, &mut snap, ch);
    }
    for r in &revs {
        let owner = r
            .value
            .pointer("/metadata/ownerReferences/0/uid")
            .and_then(Value::as_str);
        if owner.is_none_or(|u| !uids.contains(u)) {
            let ns = r.namespace.clone().unwrap_or_default();
            ch.deletes.push(Key::of(r));
            for (kind, name) in [
                (Kind::Deployment, format!("{}-deployment", r.name)),
                (Kind::Service, r.name.clone()),
            ] {
                if inner.get(kind, &ns, &name).is_some() {
                    ch.deletes.push(Key::new(kind.group_kind(), &ns, &name));
                }
            }
        }
    }
    inner.serving.retain(|k| snap.revisions.contains_key(k));
    inner.serving.routes.send_if_modified(|old| {
        let changed = *old != snap;
        if changed {
            *old = snap;
        }
        changed
    });
}

/// One Service: its Revisions, their pods, its routes and status.
fn service(
    inner: &Arc<Inner>,
    o: &StoredObject,
    svc: &KService,
    uid: &str,
    all_revs: &[Arc<StoredObject>],
    snap: &mut ServingSnapshot,
    ch: &mut Changes,
) {
    let ns = o.namespace.clone().unwrap_or_default();
    let tpl = o
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let hash = hex::encode(&Sha256::digest(tpl.to_string().as_bytes())[..8]);
    let mut mine: Vec<Value> = all_revs
        .iter()
        .filter(|r| {
            r.value
                .pointer("/metadata/ownerReferences/0/uid")
                .and_then(Value::as_str)
                == Some(uid)
        })
        .map(|r| r.value.clone())
        .collect();
    let infos: Vec<RevisionInfo> = mine.iter().map(info).collect();
    let plan = knative_plan::plan(svc, &ns, &hash, &infos, &inner.cfg.serving_domain);
    if let Some((name, generation)) = &plan.create {
        let rev_uid = uuid::Uuid::new_v4().to_string();
        let id = RevisionId {
            namespace: &ns,
            name,
            uid: &rev_uid,
            generation: *generation,
        };
        let rev = objects::revision(svc, uid, &id, &hash, &now());
        inner.event(
            "Service",
            &ns,
            &o.name,
            false,
            "Created",
            format!("Created Revision \"{name}\""),
        );
        mine.push(rev);
    }
    for rev in &mine {
        revision(inner, rev, snap, ch);
    }
    snap.routes.extend(plan.routes);
    put_status(o, plan.status, ch);
}

fn info(rev: &Value) -> RevisionInfo {
    let s = |p: &str| {
        rev.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    RevisionInfo {
        name: s("/metadata/name"),
        generation: s(&format!(
            "/metadata/labels/{}",
            LABEL_CONFIGURATION_GENERATION.replace('/', "~1")
        ))
        .parse()
        .unwrap_or(0),
        hash: s(&format!(
            "/metadata/annotations/{}",
            TEMPLATE_HASH.replace('/', "~1")
        )),
        ready: rev
            .pointer("/status/conditions/0/status")
            .and_then(Value::as_str)
            == Some("True"),
    }
}

/// One Revision: decides its pods, writes its Deployment, Service, status.
fn revision(inner: &Arc<Inner>, rev: &Value, snap: &mut ServingSnapshot, ch: &mut Changes) {
    let ns = rev["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = rev["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = ServiceKey {
        namespace: ns.clone(),
        name: name.clone(),
    };
    let cc = rev
        .pointer("/spec/containerConcurrency")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    let annotations = rev
        .pointer("/metadata/annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    let settings = ScaleSettings::of(annotations.as_ref(), cc);
    let dep = inner.get(Kind::Deployment, &ns, &format!("{name}-deployment"));
    let current = dep
        .as_ref()
        .and_then(|d| d.value.pointer("/spec/replicas")?.as_u64())
        .unwrap_or(0) as u32;
    let observed = inner.serving.observe(&key, settings.window, Instant::now());
    let want = desired(&settings, &observed, current);
    inner.serving.decided(&key, want);
    let stamp = now();
    match &dep {
        None => {
            let uid = uuid::Uuid::new_v4().to_string();
            let d = objects::deployment(rev, want, &uid, &stamp);
            ch.puts.push(stored(
                Kind::Deployment,
                &ns,
                &format!("{name}-deployment"),
                d,
            ));
        }
        Some(d) if current != want => {
            let mut v = d.value.clone();
            v["spec"]["replicas"] = json!(want);
            let generation = v
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            v["metadata"]["generation"] = json!(generation + 1);
            tracing::debug!(revision = %key, from = current, to = want, "knative autoscaler");
            ch.puts.push(stored(Kind::Deployment, &ns, &d.name, v));
        }
        Some(_) => {}
    }
    if inner.get(Kind::Service, &ns, &name).is_none() {
        let uid = uuid::Uuid::new_v4().to_string();
        ch.puts.push(stored(
            Kind::Service,
            &ns,
            &name,
            objects::service(rev, &uid, &stamp),
        ));
    }
    let (ready_pods, uids) = ready_pods(inner, &ns, rev);
    let cold = match ready_pods {
        0 => None,
        _ => inner.serving.finish_cold(inner, &key, &uids),
    };
    let was_ready = info(rev).ready;
    let prewarm = match settings.initial {
        0 if prewarm::wanted(&settings, rev) => Some(prewarm::ensure(inner, &key, rev)),
        0 => Some(prewarm::State::Done),
        _ => None,
    };
    let ready = match prewarm {
        _ if was_ready || ready_pods > 0 => cond("Ready", "True", "", ""),
        Some(prewarm::State::Done) => cond("Ready", "True", "", ""),
        Some(prewarm::State::Failed { why, .. }) => cond("Ready", "False", "PrewarmFailed", &why),
        Some(prewarm::State::Pulling) => cond("Ready", "Unknown", "Prewarming", ""),
        None => cond("Ready", "Unknown", "Deploying", ""),
    };
    let active = match ready_pods {
        0 if want == 0 => cond(
            "Active",
            "False",
            "NoTraffic",
            "The target is not receiving traffic.",
        ),
        0 => cond("Active", "Unknown", "Activating", ""),
        _ => cond("Active", "True", "", ""),
    };
    let mut status = json!({
        "observedGeneration": 1,
        "conditions": [ready, active],
        "actualReplicas": ready_pods,
        "desiredReplicas": want,
    });
    if let Some(c) = cold.or_else(|| rev.pointer("/status/lastColdStart").cloned()) {
        status["lastColdStart"] = c;
    }
    let obj = stored(Kind::Revision, &ns, &name, rev.clone());
    put_status(&obj, status, ch);
    snap.revisions.insert(
        key,
        ServingRevision {
            container_concurrency: cc,
        },
    );
}

/// Ready pods of a Revision, and the uids of all its live pods.
fn ready_pods(inner: &Inner, ns: &str, rev: &Value) -> (u32, Vec<String>) {
    let uid = rev.pointer("/metadata/uid").and_then(Value::as_str);
    let pods: Vec<k8s_openapi::api::core::v1::Pod> = inner
        .list(Kind::Pod)
        .iter()
        .filter(|p| p.namespace.as_deref() == Some(ns))
        .filter(|p| {
            p.value
                .pointer("/metadata/labels/serving.knative.dev~1revisionUID")
                .and_then(Value::as_str)
                == uid
        })
        .filter_map(|p| serde_json::from_value(p.value.clone()).ok())
        .filter(|p: &k8s_openapi::api::core::v1::Pod| p.metadata.deletion_timestamp.is_none())
        .collect();
    let ready = pods
        .iter()
        .filter(|p| crate::deploy::ready(inner, p))
        .count() as u32;
    let uids = pods.into_iter().filter_map(|p| p.metadata.uid).collect();
    (ready, uids)
}

/// Writes `status` on `o` when it differs, keeping each condition's
/// `lastTransitionTime` while its status stays.
fn put_status(o: &StoredObject, mut status: Value, ch: &mut Changes) {
    let old = o.value.get("status");
    let stamp = now();
    for c in status["conditions"].as_array_mut().into_iter().flatten() {
        let before = old
            .and_then(|s| s["conditions"].as_array())
            .and_then(|cs| cs.iter().find(|x| x["type"] == c["type"]));
        c["lastTransitionTime"] = match before {
            Some(b) if b["status"] == c["status"] => b["lastTransitionTime"].clone(),
            _ => json!(stamp),
        };
    }
    if old == Some(&status) {
        return;
    }
    let mut v = o.value.clone();
    v["status"] = status;
    ch.puts.push(StoredObject {
        value: v,
        ..o.clone()
    });
}

fn stored(kind: Kind, ns: &str, name: &str, value: Value) -> StoredObject {
    StoredObject {
        group_kind: kind.group_kind(),
        namespace: Some(ns.to_string()),
        name: name.to_string(),
        source: "controller".into(),
        value,
    }
}
