//! Apply order on a cluster, as a pure decision over the engine's batch:
//! CustomResourceDefinitions and Namespaces first, then configuration
//! (ConfigMap, Secret, ServiceAccount, RBAC, claims), then workloads and
//! custom resources, then routing (Service, Ingress, Gateway API routes).
//! Within a phase the engine's order is kept (the sort is stable). Sync
//! waves, as Argo CD spells them, come before phases: an object annotated
//! `app.ferry.dev/sync-wave` (or `argocd.argoproj.io/sync-wave`) with a
//! lower number is applied first; unannotated objects are wave 0. Waves
//! order the apply only; ferry does not wait for a wave to be healthy.

use ferry_core::objects::{GroupKind, StoredObject};

/// The phases a batch is applied in, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// CRDs and Namespaces: what other objects need to exist at all.
    Foundation,
    /// ConfigMaps, Secrets, ServiceAccounts, RBAC, volume claims.
    Config,
    /// Workloads, and any kind not named elsewhere (custom resources).
    Workload,
    /// Services and routes: traffic goes to workloads that exist.
    Routing,
}

/// The phase of one kind.
pub fn phase(gk: &GroupKind) -> Phase {
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            Phase::Foundation
        }
        (
            "",
            "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "PersistentVolumeClaim"
            | "PersistentVolume"
            | "LimitRange"
            | "ResourceQuota",
        )
        | (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        )
        | ("storage.k8s.io", "StorageClass")
        | ("scheduling.k8s.io", "PriorityClass") => Phase::Config,
        ("", "Service" | "Endpoints")
        | ("networking.k8s.io", "Ingress" | "IngressClass" | "NetworkPolicy")
        | ("gateway.networking.k8s.io", _)
        | ("networking.istio.io", _) => Phase::Routing,
        _ => Phase::Workload,
    }
}

/// Annotations naming an object's sync wave, ferry's first.
pub const WAVE_ANNOTATIONS: [&str; 2] = ["app.ferry.dev/sync-wave", "argocd.argoproj.io/sync-wave"];

/// An object's sync wave (0 when unannotated or not a number).
pub fn wave(o: &StoredObject) -> i64 {
    let ann = o.value.pointer("/metadata/annotations");
    WAVE_ANNOTATIONS
        .iter()
        .find_map(|k| ann?.get(*k)?.as_str()?.trim().parse().ok())
        .unwrap_or(0)
}

/// The batch in apply order: by wave, then phase (stable: the engine's
/// order is kept among equals).
pub fn ordered(mut objects: Vec<StoredObject>) -> Vec<StoredObject> {
    objects.sort_by_key(|o| (wave(o), phase(&o.group_kind)));
    objects
}

/// True for a CustomResourceDefinition.
pub fn is_crd(gk: &GroupKind) -> bool {
    gk.group == "apiextensions.k8s.io" && gk.kind == "CustomResourceDefinition"
}

/// The group a CRD defines (`spec.group`), to know which custom resources
/// of the batch must wait for it to be Established.
pub fn crd_group(o: &StoredObject) -> Option<&str> {
    if !is_crd(&o.group_kind) {
        return None;
    }
    o.value.pointer("/spec/group").and_then(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api: &str, kind: &str, name: &str) -> StoredObject {
        StoredObject {
            group_kind: GroupKind::of(api, kind),
            namespace: None,
            name: name.into(),
            source: String::new(),
            value: json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
        }
    }

    fn names(v: &[StoredObject]) -> Vec<&str> {
        v.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn foundation_config_workload_routing() {
        let batch = vec![
            obj("v1", "Service", "svc"),
            obj("example.com/v1", "Widget", "w"),
            obj("gateway.networking.k8s.io/v1", "HTTPRoute", "route"),
            obj("apps/v1", "Deployment", "dep"),
            obj("rbac.authorization.k8s.io/v1", "RoleBinding", "rb"),
            obj("v1", "ConfigMap", "cm"),
            obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd"),
            obj("v1", "Namespace", "ns"),
        ];
        assert_eq!(
            names(&ordered(batch)),
            ["crd", "ns", "rb", "cm", "w", "dep", "svc", "route"]
        );
    }

    #[test]
    fn engine_order_is_kept_within_a_phase() {
        let batch = vec![
            obj("v1", "Secret", "b"),
            obj("v1", "ConfigMap", "a"),
            obj("v1", "ServiceAccount", "c"),
        ];
        assert_eq!(names(&ordered(batch)), ["b", "a", "c"]);
    }

    #[test]
    fn waves_come_before_phases() {
        let mut late = obj("v1", "Namespace", "late-ns");
        late.value["metadata"]["annotations"] = json!({"app.ferry.dev/sync-wave": "2"});
        let mut early = obj("v1", "Service", "early-svc");
        early.value["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "-1"});
        let mut junk = obj("v1", "ConfigMap", "junk");
        junk.value["metadata"]["annotations"] = json!({"app.ferry.dev/sync-wave": "soon"});
        let batch = vec![late, obj("apps/v1", "Deployment", "dep"), junk, early];
        assert_eq!(
            names(&ordered(batch)),
            ["early-svc", "junk", "dep", "late-ns"]
        );
    }

    #[test]
    fn crd_group_is_read_from_spec() {
        let mut crd = obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "widgets.example.com",
        );
        crd.value["spec"] = json!({"group": "example.com"});
        assert_eq!(crd_group(&crd), Some("example.com"));
        assert_eq!(crd_group(&obj("v1", "ConfigMap", "x")), None);
    }
}
