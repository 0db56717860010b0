//! Strict decoding of a manifest document into its Kubernetes type: serde
//! errors carry the field path, and fields the type does not know
//! (k8s-openapi ignores them) are found by comparing the document with its
//! decoded-and-re-encoded form.

use ferry_core::Problem;
use ferry_core::yaml::Document;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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
}
