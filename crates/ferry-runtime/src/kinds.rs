//! The kinds the runtime runs itself, and strict decoding of a manifest
//! document into its Kubernetes type: serde errors carry the field path, and
//! fields the type does not know (k8s-openapi ignores them) are found by
//! comparing the document with its decoded-and-re-encoded form.

use ferry_core::Problem;
use ferry_core::objects::GroupKind;
use ferry_core::yaml::Document;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A kind the runtime handles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    ConfigMap,
    Secret,
    Service,
    Deployment,
    ReplicaSet,
    CronJob,
    Job,
    Pod,
}

impl Kind {
    /// Every built-in kind, in the order an apply creates them.
    pub const ALL: [Kind; 9] = [
        Kind::Namespace,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Service,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::CronJob,
        Kind::Job,
        Kind::Pod,
    ];

    /// `(group, kind)`.
    pub fn group_kind(self) -> GroupKind {
        GroupKind::new(self.group(), self.name())
    }

    /// The API group (`apps`, `batch` or the core group).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
            _ => "",
        }
    }

    /// The `apiVersion` objects of this kind are written with.
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "apps" => "apps/v1",
            "batch" => "batch/v1",
            _ => "v1",
        }
    }

    /// The kind's name as in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Service => "Service",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::CronJob => "CronJob",
            Kind::Job => "Job",
            Kind::Pod => "Pod",
        }
    }

    /// False for cluster-scoped kinds.
    pub fn namespaced(self) -> bool {
        self != Kind::Namespace
    }

    /// The kind for a group/kind, if built in.
    pub fn from_group_kind(gk: &GroupKind) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == gk.group && k.name() == gk.kind)
    }

    /// Resolves what users type on the command line (`po`, `deploy`, `svc`…).
    pub fn from_cli(word: &str) -> Option<Kind> {
        let w = word.to_ascii_lowercase();
        let w = w.split('.').next().unwrap_or_default();
        Some(match w {
            "ns" | "namespace" | "namespaces" => Kind::Namespace,
            "cm" | "configmap" | "configmaps" => Kind::ConfigMap,
            "secret" | "secrets" => Kind::Secret,
            "svc" | "service" | "services" => Kind::Service,
            "deploy" | "deployment" | "deployments" => Kind::Deployment,
            "rs" | "replicaset" | "replicasets" => Kind::ReplicaSet,
            "po" | "pod" | "pods" => Kind::Pod,
            "job" | "jobs" => Kind::Job,
            "cj" | "cronjob" | "cronjobs" => Kind::CronJob,
            _ => return None,
        })
    }
}

/// Decodes `doc` into `T`, rejecting wrong types (with their path) and
/// unknown fields (with their path and the nearest known one).
pub fn decode_strict<T: DeserializeOwned + Serialize>(doc: &Document) -> Result<T, Problem> {
    let typed: T = doc.decode()?;
    let back = serde_json::to_value(&typed).map_err(|e| doc.problem("", e.to_string()))?;
    // Only the fields set in the re-encoded object are known here, too few
    // for a reliable "did you mean", so none is offered.
    if let Some((path, name)) = first_unknown(&doc.value, &back, String::new()) {
        return Err(doc.problem(&path, format!("unknown field `{name}`")));
    }
    Ok(typed)
}

/// The first key of `orig` that `back` lost: `(path, key)`.
fn first_unknown(orig: &Value, back: &Value, path: String) -> Option<(String, String)> {
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(bv) => {
                        if let Some(found) = first_unknown(v, bv, child) {
                            return Some(found);
                        }
                    }
                    None if is_empty(v) => {}
                    None => return Some((child, k.clone())),
                }
            }
            None
        }
        (Value::Array(o), Value::Array(b)) => o
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (ov, bv))| first_unknown(ov, bv, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Nulls and empty collections may be dropped by re-encoding.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    fn doc(text: &str) -> Document {
        ferry_core::yaml::parse_documents("d.yaml", text)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn unknown_nested_field_is_named_with_path() {
        let d = doc(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    spec:\n      containers:\n      - name: c\n        image: i\n        imagePullPolicyy: Always\n",
        );
        let p = decode_strict::<Deployment>(&d).unwrap_err();
        assert_eq!(
            p.path.as_deref(),
            Some("spec.template.spec.containers[0].imagePullPolicyy")
        );
        assert_eq!(p.message, "unknown field `imagePullPolicyy`");
    }

    #[test]
    fn wrong_type_is_named_with_path() {
        let d = doc(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: many\n  selector: {}\n  template: {}\n",
        );
        let p = decode_strict::<Deployment>(&d).unwrap_err();
        assert_eq!(p.path.as_deref(), Some("spec.replicas"));
    }

    #[test]
    fn cli_names_resolve() {
        assert_eq!(Kind::from_cli("deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("svc"), Some(Kind::Service));
        assert_eq!(Kind::from_cli("pods"), Some(Kind::Pod));
        assert_eq!(Kind::from_cli("deployments.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("nope"), None);
    }
}
