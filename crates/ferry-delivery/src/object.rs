//! Object identity and the labels ferry stamps on what it
//! creates (its inventory mark).

use std::fmt;

use ferry_core::objects::{GroupKind, StoredObject};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Label naming the application an object belongs to.
pub const LABEL_APP: &str = "app.ferry.dev/name";
/// Label naming the environment an object was deployed for.
pub const LABEL_ENV: &str = "app.ferry.dev/environment";
/// Annotation holding the git revision an object was applied from.
pub const ANNOTATION_REVISION: &str = "app.ferry.dev/revision";

/// Kind, namespace and name: what identifies an object on a target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjKey {
    pub group_kind: GroupKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjKey {
    /// The key of a stored object.
    pub fn of(o: &StoredObject) -> Self {
        Self {
            group_kind: o.group_kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
        }
    }

    /// The key of a JSON object (its apiVersion, kind and metadata).
    pub fn of_value(v: &Value) -> Option<Self> {
        let api = v.get("apiVersion")?.as_str()?;
        let kind = v.get("kind")?.as_str()?;
        let name = v.pointer("/metadata/name")?.as_str()?;
        let namespace = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some(Self {
            group_kind: GroupKind::of(api, kind),
            namespace,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.group_kind, ns, self.name),
            None => write!(f, "{}/{}", self.group_kind, self.name),
        }
    }
}

/// Kinds that are not namespaced (the rest get the environment's namespace).
pub fn cluster_scoped(gk: &GroupKind) -> bool {
    matches!(
        (gk.group.as_str(), gk.kind.as_str()),
        ("", "Namespace")
            | ("", "Node")
            | ("", "PersistentVolume")
            | ("rbac.authorization.k8s.io", "ClusterRole")
            | ("rbac.authorization.k8s.io", "ClusterRoleBinding")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("gateway.networking.k8s.io", "GatewayClass")
    )
}

/// The labels of an object's metadata, if any.
pub fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// Sets `metadata.labels[key] = value`, creating maps as needed.
pub fn set_label(v: &mut Value, key: &str, value: &str) {
    set_meta_map(v, "labels", key, value);
}

/// Sets `metadata.annotations[key] = value`, creating maps as needed.
pub fn set_annotation(v: &mut Value, key: &str, value: &str) {
    set_meta_map(v, "annotations", key, value);
}

fn set_meta_map(v: &mut Value, map: &str, key: &str, value: &str) {
    let Some(obj) = v.as_object_mut() else { return };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let m = meta
        .entry(map)
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(m) = m.as_object_mut() {
        m.insert(key.to_string(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_are_set_on_bare_objects() {
        let mut v = json!({"kind": "X"});
        set_label(&mut v, LABEL_APP, "web");
        assert_eq!(label(&v, LABEL_APP), Some("web"));
    }
}
