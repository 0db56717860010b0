//! Tests of apply order and sync waves.

use ferry_core::objects::{GroupKind, StoredObject};
use serde_json::{Value, json};

use super::*;

fn obj(api: &str, kind: &str, name: &str, wave: Option<&str>) -> StoredObject {
    let mut value = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
    if let Some(w) = wave {
        value["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": w});
    }
    StoredObject {
        group_kind: GroupKind::of(api, kind),
        namespace: None,
        name: name.into(),
        source: String::new(),
        value,
    }
}

fn kinds(v: &[StoredObject]) -> Vec<&str> {
    v.iter().map(|o| o.group_kind.kind.as_str()).collect()
}

#[test]
fn phases_put_crds_and_namespaces_first_then_config_workloads_routing() {
    let mut v = vec![
        obj("example.com/v1", "Widget", "w", None),
        obj("networking.istio.io/v1", "VirtualService", "a", None),
        obj("gateway.networking.k8s.io/v1", "HTTPRoute", "a", None),
        obj("v1", "Service", "a", None),
        obj("apps/v1", "Deployment", "a", None),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", "a", None),
        obj("v1", "PersistentVolumeClaim", "a", None),
        obj("v1", "ConfigMap", "a", None),
        obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "w",
            None,
        ),
        obj("v1", "Namespace", "a", None),
    ];
    sort_for_apply(&mut v);
    assert_eq!(
        kinds(&v),
        [
            "Namespace",
            "CustomResourceDefinition",
            "ConfigMap",
            "PersistentVolumeClaim",
            "RoleBinding",
            "Deployment",
            "Service",
            "HTTPRoute",
            "VirtualService",
            "Widget",
        ]
    );
}

#[test]
fn lower_waves_go_first_whatever_the_kind() {
    let mut v = vec![
        obj("v1", "Namespace", "late", Some("2")),
        obj("apps/v1", "Deployment", "db", Some("-1")),
        obj("v1", "Service", "web", None),
        obj("v1", "ConfigMap", "web", None),
    ];
    sort_for_apply(&mut v);
    assert_eq!(
        kinds(&v),
        ["Deployment", "ConfigMap", "Service", "Namespace"]
    );
    let split = waves(v);
    let w: Vec<(i32, Vec<&str>)> = split.iter().map(|(n, b)| (*n, kinds(b))).collect();
    assert_eq!(
        w,
        [
            (-1, vec!["Deployment"]),
            (0, vec!["ConfigMap", "Service"]),
            (2, vec!["Namespace"])
        ]
    );
}

#[test]
fn ferrys_own_annotation_counts_and_must_agree_with_argos() {
    let mut v: Value = json!({"metadata": {"annotations": {"ferry.dev/sync-wave": " 3 "}}});
    assert_eq!(wave(&v), Ok(3));
    v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = json!("3");
    assert_eq!(wave(&v), Ok(3));
    v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = json!("1");
    let (path, message) = wave(&v).unwrap_err();
    assert_eq!(path, "metadata.annotations[\"ferry.dev/sync-wave\"]");
    assert!(message.contains("contradicts"), "{message}");
    assert_eq!(wave(&json!({"metadata": {}})), Ok(0));
}

#[test]
fn a_bad_wave_names_the_annotation() {
    for bad in [json!("first"), json!("1.5"), json!(2)] {
        let quoted = bad.is_number();
        let v = json!({"metadata": {"annotations": {"argocd.argoproj.io/sync-wave": bad}}});
        let (path, message) = wave(&v).unwrap_err();
        assert_eq!(
            path,
            "metadata.annotations[\"argocd.argoproj.io/sync-wave\"]"
        );
        let expected = if quoted { "quote the wave" } else { "integer" };
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn deletion_runs_the_phases_backwards() {
    let mut keys: Vec<ObjKey> = [
        obj("v1", "Namespace", "a", None),
        obj("v1", "Service", "a", None),
        obj("apps/v1", "Deployment", "a", None),
    ]
    .iter()
    .map(ObjKey::of)
    .collect();
    sort_for_delete(&mut keys);
    let k: Vec<&str> = keys.iter().map(|k| k.group_kind.kind.as_str()).collect();
    assert_eq!(k, ["Service", "Deployment", "Namespace"]);
}
