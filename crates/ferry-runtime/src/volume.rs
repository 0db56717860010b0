//! The volume controller's writes (decisions in `volume_plan.rs`): keeps the
//! built-in default StorageClass `local-path` (provisioner
//! `rancher.io/local-path`, reclaimPolicy Delete, volumeBindingMode
//! WaitForFirstConsumer, as k3s ships it); provisions a volume as a
//! directory `<data>/volumes/pvc-<claim uid>` (mode 0777 as k3s makes it,
//! under a 0700 `volumes` directory) with its PersistentVolume object and
//! binds the claim; records Pending reasons, Lost claims and Released
//! volumes; removes claims no pod uses any more and reclaimed volumes
//! with their directories.

use std::collections::BTreeSet;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::deploy::Changes;
use crate::kinds::Kind;
use crate::pod::claims;
use crate::runtime::Inner;
use crate::store::Key;
use crate::volume_plan::{
    self, Action, Claim, ClaimId, Class, DEFAULT_ANNOTATION, DEFAULT_CLASS, PROVISIONERS, Reclaim,
    Volume, World,
};

/// The finalizer Kubernetes puts on claims (deletion waits for their pods).
const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

/// One pass over StorageClasses, claims and volumes.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    default_class(inner, ch);
    let world = world(inner);
    for action in volume_plan::decide(&world) {
        act(inner, &world, action, ch);
    }
}

fn default_class(inner: &Inner, ch: &mut Changes) {
    let want = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
        "provisioner": PROVISIONERS[0],
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    });
    let old = inner.get(Kind::StorageClass, "", DEFAULT_CLASS);
    let same = old.as_ref().is_some_and(|o| {
        ["provisioner", "reclaimPolicy", "volumeBindingMode"]
            .iter()
            .all(|f| o.value.get(f) == want.get(f))
            && o.value.pointer("/metadata/annotations") == want.pointer("/metadata/annotations")
    });
    if !same {
        let obj = crate::accounts::system_object(
            Kind::StorageClass,
            "",
            DEFAULT_CLASS,
            want,
            old.as_deref(),
        );
        ch.puts.push(obj);
    }
}

fn world(inner: &Inner) -> World {
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let class_objs = inner.list(Kind::StorageClass);
    let classes = class_objs.iter().map(|o| Class {
        name: o.name.clone(),
        provisioner: s(&o.value, "/provisioner").unwrap_or_default(),
        reclaim: Reclaim::parse(o.value.get("reclaimPolicy").and_then(Value::as_str)),
        immediate: s(&o.value, "/volumeBindingMode").as_deref() == Some("Immediate"),
        default: s(
            &o.value,
            &format!("/metadata/annotations/{}", esc(DEFAULT_ANNOTATION)),
        )
        .as_deref()
            == Some("true"),
    });
    let classes: Vec<Class> = classes.collect();
    let claim_objs = inner.list(Kind::PersistentVolumeClaim);
    let claims = claim_objs.iter().map(|o| {
        let v = &o.value;
        Claim {
            id: (o.namespace.clone().unwrap_or_default(), o.name.clone()),
            uid: s(v, "/metadata/uid").unwrap_or_default(),
            class: s(v, "/spec/storageClassName"),
            volume_name: s(v, "/spec/volumeName"),
            modes: serde_json::from_value(v.pointer("/spec/accessModes").cloned().into())
                .unwrap_or_default(),
            request: s(v, "/spec/resources/requests/storage").unwrap_or_default(),
            phase: s(v, "/status/phase"),
            deleting: v.pointer("/metadata/deletionTimestamp").is_some(),
        }
    });
    let claims: Vec<Claim> = claims.collect();
    let volume_objs = inner.list(Kind::PersistentVolume);
    let volumes = volume_objs.iter().map(|o| {
        let v = &o.value;
        let claim = s(v, "/spec/claimRef/uid").map(|uid| {
            let ns = s(v, "/spec/claimRef/namespace").unwrap_or_default();
            ((ns, s(v, "/spec/claimRef/name").unwrap_or_default()), uid)
        });
        Volume {
            name: o.name.clone(),
            claim,
            reclaim: Reclaim::parse(
                v.pointer("/spec/persistentVolumeReclaimPolicy")
                    .and_then(Value::as_str),
            ),
            phase: s(v, "/status/phase"),
            deleting: v.pointer("/metadata/deletionTimestamp").is_some(),
        }
    });
    let volumes: Vec<Volume> = volumes.collect();
    let (used, consumed) = users(inner);
    World {
        classes,
        claims,
        volumes,
        used,
        consumed,
    }
}

/// Claims named by pods that have not finished, and by those not being deleted.
fn users(inner: &Inner) -> (BTreeSet<ClaimId>, BTreeSet<ClaimId>) {
    let (mut used, mut consumed) = (BTreeSet::new(), BTreeSet::new());
    for o in inner.list(Kind::Pod) {
        let Ok(pod) = serde_json::from_value::<Pod>(o.value.clone()) else {
            continue;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let rt = inner.pods.lock_or_recover().get(&uid).cloned();
        let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.clone());
        let finished = rt.is_some_and(|rt| {
            crate::job::finished_phase(policy.as_deref(), &rt.lock_or_recover().status).is_some()
        });
        if finished {
            continue;
        }
        let ns = o.namespace.clone().unwrap_or_default();
        let deleting = pod.metadata.deletion_timestamp.is_some();
        for name in claims::claim_names(&pod) {
            let id = (ns.clone(), name);
            if !deleting {
                consumed.insert(id.clone());
            }
            used.insert(id);
        }
    }
    (used, consumed)
}

fn esc(p: &str) -> String {
    p.replace('~', "~0").replace('/', "~1")
}

fn act(inner: &Inner, w: &World, action: Action, ch: &mut Changes) {
    let claim_obj = |id: &ClaimId| inner.get(Kind::PersistentVolumeClaim, &id.0, &id.1);
    match action {
        Action::Provision {
            claim,
            volume,
            class,
            reclaim,
        } => {
            let (Some(o), Some(c)) = (claim_obj(&claim), w.claims.iter().find(|c| c.id == claim))
            else {
                return;
            };
            provision(inner, &o, c, &volume, &class, reclaim, ch);
        }
        Action::Bind { claim, volume } => {
            let (Some(o), Some(pv)) = (
                claim_obj(&claim),
                inner.get(Kind::PersistentVolume, "", &volume),
            ) else {
                return;
            };
            let capacity = pv.value.pointer("/spec/capacity").cloned();
            ch.puts.push(bound_claim(&o, &volume, capacity));
        }
        Action::Wait {
            claim,
            reason,
            message,
        } => {
            let Some(o) = claim_obj(&claim) else { return };
            let condition = json!([{"type": "Bound", "status": "False",
                "reason": reason, "message": message}]);
            if o.value.pointer("/status/conditions") != Some(&condition) {
                inner.event(
                    "PersistentVolumeClaim",
                    &claim.0,
                    &claim.1,
                    reason != "WaitForFirstConsumer",
                    reason,
                    message,
                );
                let mut v = protected(&o.value);
                v["status"] = json!({"phase": "Pending", "conditions": condition});
                ch.puts.push(with_value(&o, v));
            }
        }
        Action::Lost { claim } => {
            let Some(o) = claim_obj(&claim) else { return };
            let message = "Bound claim has lost its PersistentVolume. Data on the volume is lost!";
            inner.event(
                "PersistentVolumeClaim",
                &claim.0,
                &claim.1,
                true,
                "ClaimLost",
                message,
            );
            let mut v = o.value.clone();
            v["status"]["phase"] = json!("Lost");
            ch.puts.push(with_value(&o, v));
        }
        Action::RemoveClaim { claim } => {
            if let Some(o) = claim_obj(&claim) {
                ch.deletes.push(Key::of(&o));
            }
        }
        Action::Release { volume } => {
            let Some(o) = inner.get(Kind::PersistentVolume, "", &volume) else {
                return;
            };
            let mut v = o.value.clone();
            v["status"] = json!({"phase": "Released"});
            ch.puts.push(with_value(&o, v));
        }
        Action::DeleteVolume { volume } => {
            let Some(o) = inner.get(Kind::PersistentVolume, "", &volume) else {
                return;
            };
            match claims::remove_dir(inner, &volume) {
                Ok(()) => ch.deletes.push(Key::of(&o)),
                Err(e) if o.value.pointer("/status/phase") != Some(&json!("Failed")) => {
                    let message = format!("cannot remove the volume's directory: {e}");
                    inner.event(
                        "PersistentVolume",
                        "",
                        &volume,
                        true,
                        "VolumeFailedDelete",
                        message.clone(),
                    );
                    let mut v = o.value.clone();
                    v["status"] = json!({"phase": "Failed", "message": message});
                    ch.puts.push(with_value(&o, v));
                }
                Err(_) => {}
            }
        }
    }
}

/// Makes the volume's directory and object and binds the claim to it.
fn provision(
    inner: &Inner,
    o: &StoredObject,
    c: &Claim,
    volume: &str,
    class: &str,
    reclaim: Reclaim,
    ch: &mut Changes,
) {
    let (ns, name) = (&c.id.0, &c.id.1);
    let path = match claims::make_dir(inner, volume) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("failed to provision volume with StorageClass \"{class}\": {e}");
            inner.event(
                "PersistentVolumeClaim",
                ns,
                name,
                true,
                "ProvisioningFailed",
                message,
            );
            return;
        }
    };
    let capacity = json!({"storage": c.request});
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": volume,
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONERS[0]},
            "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {
            "capacity": capacity,
            "accessModes": c.modes,
            "persistentVolumeReclaimPolicy": reclaim.as_str(),
            "storageClassName": class,
            "volumeMode": "Filesystem",
            "hostPath": {"path": path.to_string_lossy(), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "namespace": ns, "name": name, "uid": c.uid},
        },
        "status": {"phase": "Bound"},
    });
    ch.puts.push(crate::accounts::system_object(
        Kind::PersistentVolume,
        "",
        volume,
        pv,
        None,
    ));
    ch.puts.push(bound_claim(o, volume, Some(capacity)));
    let message = format!("Successfully provisioned volume {volume}");
    inner.event(
        "PersistentVolumeClaim",
        ns,
        name,
        false,
        "ProvisioningSucceeded",
        message,
    );
}

/// The claim bound to `volume`: `spec.volumeName`, phase Bound, capacity and access modes.
fn bound_claim(o: &StoredObject, volume: &str, capacity: Option<Value>) -> StoredObject {
    let mut v = protected(&o.value);
    v["spec"]["volumeName"] = json!(volume);
    let annotations = &mut v["metadata"]["annotations"];
    annotations["pv.kubernetes.io/bind-completed"] = json!("yes");
    annotations["pv.kubernetes.io/bound-by-controller"] = json!("yes");
    annotations["volume.kubernetes.io/storage-provisioner"] = json!(PROVISIONERS[0]);
    let modes = v.pointer("/spec/accessModes").cloned();
    v["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": capacity});
    with_value(o, v)
}

/// The claim's value with the pvc-protection finalizer.
fn protected(v: &Value) -> Value {
    let mut v = v.clone();
    let has = v
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|f| f == PVC_PROTECTION));
    if !has {
        let mut list = v
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        list.push(json!(PVC_PROTECTION));
        v["metadata"]["finalizers"] = json!(list);
    }
    v
}

fn with_value(o: &StoredObject, value: Value) -> StoredObject {
    StoredObject { value, ..o.clone() }
}
