//! Desired-versus-live comparison, normalised so that fields the target
//! fills in (defaults, status, server-owned metadata) make no noise: only
//! fields written in git are compared, and a value the target spells
//! differently (`80` and `"80"`) counts as equal. A Secret's values never
//! leave the engine in a diff ([`redact_secret`]): `ferry app get` and
//! `ferry app diff` show which keys differ, as Argo CD does, not what they
//! hold.

use serde::Serialize;
use serde_json::Value;

/// One field that differs between git and the live object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    /// Dotted path, e.g. `spec.replicas` or `spec.template.spec.containers.0.image`.
    pub path: String,
    pub desired: Value,
    /// `null` when the live object lacks the field.
    pub live: Value,
}

/// Metadata fields that belong to the server, never compared.
const SERVER_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// The fields of `desired` whose value differs in `live`.
pub fn diff(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk(desired, live, &mut String::new(), &mut out);
    out
}

fn walk(desired: &Value, live: &Value, path: &mut String, out: &mut Vec<FieldDiff>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                if path.is_empty() && k == "status" {
                    continue;
                }
                if path == "metadata" && SERVER_META.contains(&k.as_str()) {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match l.get(k) {
                    Some(lv) => walk(dv, lv, path, out),
                    None if is_empty(dv) => {}
                    None => out.push(FieldDiff {
                        path: path.clone(),
                        desired: dv.clone(),
                        live: Value::Null,
                    }),
                }
                path.truncate(len);
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                let len = path.len();
                path.push_str(&format!(".{i}"));
                walk(dv, lv, path, out);
                path.truncate(len);
            }
        }
        (d, l) if scalar_eq(d, l) => {}
        (d, l) => out.push(FieldDiff {
            path: path.clone(),
            desired: d.clone(),
            live: l.clone(),
        }),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar_eq(d: &Value, l: &Value) -> bool {
    if d == l {
        return true;
    }
    match (d, l) {
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            n.to_string() == *s
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => a.is_empty() && b.is_empty(),
        (Value::Null, Value::Object(m)) => m.is_empty(),
        (Value::Null, Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// What a Secret's value shows in a diff.
pub const REDACTED: &str = "<redacted>";

/// Hides the values of a Secret's `data` and `stringData` in `diffs` (an
/// absent side stays absent, so a missing or added key still shows).
pub fn redact_secret(diffs: &mut [FieldDiff]) {
    let secret_field = |p: &str| {
        ["data", "stringData"]
            .iter()
            .any(|f| p == *f || p.strip_prefix(f).is_some_and(|r| r.starts_with('.')))
    };
    for d in diffs.iter_mut().filter(|d| secret_field(&d.path)) {
        for v in [&mut d.desired, &mut d.live] {
            if !v.is_null() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
}

/// Renders diffs as `path: live → desired` lines.
pub fn describe(diffs: &[FieldDiff]) -> Vec<String> {
    diffs
        .iter()
        .map(|d| format!("{}: {} → {}", d.path, short(&d.live), short(&d.desired)))
        .collect()
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "<absent>".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(79).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn defaulted_fields_and_status_make_no_noise() {
        let desired = json!({"kind": "Deployment", "metadata": {"name": "a", "labels": {}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}}}});
        let live = json!({"kind": "Deployment", "metadata": {"name": "a", "uid": "u", "resourceVersion": "9"},
            "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate"}, "template": {"spec": {"containers": [
                {"name": "a", "image": "x", "imagePullPolicy": "Always", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}},
            "status": {"readyReplicas": 1}});
        assert!(
            diff(&desired, &live).is_empty(),
            "{:?}",
            diff(&desired, &live)
        );
    }

    #[test]
    fn changed_and_missing_fields_are_reported_with_paths() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "x:2"}]}}}});
        let live = json!({"spec": {"template": {"spec": {"containers": [{"image": "x:1"}]}}}});
        let d = diff(&desired, &live);
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["spec.replicas", "spec.template.spec.containers.0.image"]
        );
        assert_eq!(
            describe(&d)[1],
            "spec.template.spec.containers.0.image: x:1 → x:2"
        );
    }

    #[test]
    fn secret_values_are_redacted_and_other_fields_are_not() {
        let desired = json!({"type": "Opaque", "data": {"a": "bmV3", "b": "eA=="}, "stringData": {"s": "pw"},
            "metadata": {"labels": {"data": "kept"}}});
        let live =
            json!({"type": "x", "data": {"a": "b2xk"}, "metadata": {"labels": {"data": "old"}}});
        let mut d = diff(&desired, &live);
        redact_secret(&mut d);
        let lines = describe(&d);
        assert_eq!(
            lines,
            [
                "data.a: <redacted> → <redacted>",
                "data.b: <absent> → <redacted>",
                "metadata.labels.data: old → kept",
                "stringData: <absent> → <redacted>",
                "type: x → Opaque",
            ]
        );
        for secret in ["bmV3", "b2xk", "eA==", "pw"] {
            assert!(!format!("{d:?}").contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn numbers_and_numeric_strings_are_equal() {
        assert!(diff(&json!({"port": 80}), &json!({"port": "80"})).is_empty());
        assert!(diff(&json!({"w": 1.0}), &json!({"w": 1})).is_empty());
    }

    #[test]
    fn array_length_change_is_one_diff() {
        let d = diff(&json!({"a": [1, 2]}), &json!({"a": [1]}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "a");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn an_object_never_differs_from_itself(v in json_value()) {
            prop_assert!(diff(&v, &v).is_empty());
        }
    }
}
