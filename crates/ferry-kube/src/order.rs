//! Apply order on a cluster: the engine's own rules
//! (`ferry_delivery::order`: sync waves, then kind phases — CRDs and
//! Namespaces, configuration, workloads, routing, then custom resources),
//! applied again to whatever batch arrives, stably, so within a phase the
//! engine's order is kept; and which custom resources of a batch wait for a
//! CustomResourceDefinition applied before them.

use ferry_core::objects::{GroupKind, StoredObject};
use ferry_delivery::order::{apply_rank, wave_of};

/// The batch in apply order (stable: equal wave and phase keep the
/// engine's order).
pub fn ordered(mut objects: Vec<StoredObject>) -> Vec<StoredObject> {
    objects.sort_by_cached_key(|o| (wave_of(o), apply_rank(&o.group_kind)));
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
    fn foundation_config_workload_routing_custom() {
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
            ["ns", "crd", "cm", "rb", "dep", "svc", "route", "w"]
        );
    }

    #[test]
    fn engine_order_is_kept_within_a_phase_and_waves_come_first() {
        let mut late = obj("v1", "Namespace", "late");
        late.value["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "2"});
        let batch = vec![
            late,
            obj("v1", "Secret", "b"),
            obj("v1", "ConfigMap", "a"),
            obj("v1", "ServiceAccount", "c"),
        ];
        assert_eq!(names(&ordered(batch)), ["b", "a", "c", "late"]);
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
