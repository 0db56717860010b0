//! Apply order on a cluster, as a pure decision over the engine's batch:
//! CustomResourceDefinitions and Namespaces first, then configuration
//! (ConfigMap, Secret, ServiceAccount, RBAC, claims), then workloads and
//! custom resources, then routing (Service, Ingress, Gateway API routes).
//! Within a phase the engine's order is kept (the sort is stable).

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

/// The batch in apply order (stable: equal phases keep the engine's order).
pub fn ordered(mut objects: Vec<StoredObject>) -> Vec<StoredObject> {
    objects.sort_by_key(|o| phase(&o.group_kind));
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
