//! Apply order, pure: sync waves first, then kind phases inside a wave.
//!
//! A wave is the integer in the annotation `argocd.argoproj.io/sync-wave`
//! (Argo CD's, so existing manifests keep their meaning) or
//! `ferry.dev/sync-wave`; default 0, lower waves first, negative allowed.
//! Inside a wave, kinds go in phases: CRDs and Namespaces, then
//! configuration (ServiceAccounts, ConfigMaps, Secrets, claims, RBAC),
//! then workloads, then routing (Services, Ingresses, Gateway API routes,
//! Istio), then everything else (custom resources). Deletion runs the
//! other way round.

use ferry_core::objects::{GroupKind, StoredObject};
use serde_json::Value;

use crate::object::ObjKey;

/// The wave annotations, in the order they are read.
pub const WAVE_ANNOTATIONS: [&str; 2] = ["argocd.argoproj.io/sync-wave", "ferry.dev/sync-wave"];

/// The phase of a kind inside a wave (lower first).
pub fn apply_rank(gk: &GroupKind) -> u8 {
    match gk.kind.as_str() {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount"
        | "ConfigMap"
        | "Secret"
        | "PersistentVolumeClaim"
        | "PersistentVolume"
        | "StorageClass"
        | "LimitRange"
        | "ResourceQuota" => 2,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => 3,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Pod"
        | "Job"
        | "CronJob"
        | "HorizontalPodAutoscaler"
        | "PodDisruptionBudget" => 4,
        "Service" => 5,
        "Ingress" | "IngressClass" | "GatewayClass" | "Gateway" | "HTTPRoute" | "GRPCRoute"
        | "TLSRoute" | "TCPRoute" | "UDPRoute" | "ReferenceGrant" | "VirtualService"
        | "DestinationRule" | "ServiceEntry" | "Sidecar" => 6,
        _ => 7,
    }
}

/// An object's wave, or why its annotation is not one: `(field path,
/// message)`, the path naming the annotation.
pub fn wave(v: &Value) -> Result<i32, (String, String)> {
    let mut found: Option<(&str, i32)> = None;
    for key in WAVE_ANNOTATIONS {
        let Some(raw) = v.pointer("/metadata/annotations").and_then(|a| a.get(key)) else {
            continue;
        };
        let path = format!("metadata.annotations[\"{key}\"]");
        let Some(text) = raw.as_str() else {
            let m = format!("annotations are strings: quote the wave (\"{raw}\")");
            return Err((path, m));
        };
        let n: i32 = text.trim().parse().map_err(|_| {
            let m = format!("a sync wave is an integer such as \"-1\" or \"2\", found \"{text}\"");
            (path.clone(), m)
        })?;
        match found {
            Some((first, m)) if m != n => {
                return Err((
                    path,
                    format!("wave {n} contradicts `{first}: \"{m}\"`; keep one of the two"),
                ));
            }
            _ => found = Some((key, n)),
        }
    }
    Ok(found.map_or(0, |(_, n)| n))
}

/// The wave of an object already validated by rendering (0 if not valid).
pub fn wave_of(o: &StoredObject) -> i32 {
    wave(&o.value).unwrap_or(0)
}

/// Sorts objects into apply order: wave, then phase, then key.
pub fn sort_for_apply(objects: &mut [StoredObject]) {
    objects.sort_by_cached_key(|o| (wave_of(o), apply_rank(&o.group_kind), ObjKey::of(o)));
}

/// Splits objects (in apply order) into waves, lowest first.
pub fn waves(objects: Vec<StoredObject>) -> Vec<(i32, Vec<StoredObject>)> {
    let mut out: Vec<(i32, Vec<StoredObject>)> = Vec::new();
    for o in objects {
        let w = wave_of(&o);
        match out.iter_mut().find(|(n, _)| *n == w) {
            Some((_, batch)) => batch.push(o),
            None => out.push((w, vec![o])),
        }
    }
    out.sort_by_key(|(n, _)| *n);
    out
}

/// Sorts keys into deletion order (the reverse of the phases).
pub fn sort_for_delete(keys: &mut [ObjKey]) {
    keys.sort_by_key(|k| std::cmp::Reverse(apply_rank(&k.group_kind)));
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
