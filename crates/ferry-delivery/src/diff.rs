//! Desired-versus-live comparison, normalised so that fields the target
//! fills in (defaults, status, server-owned metadata) make no noise: only
//! fields written in git are compared, and a value the target spells
//! differently (`80` and `"80"`) counts as equal. [`diff_full`] also
//! reports fields only the live object has, for a desired object that is
//! complete (a server-side dry run's answer, defaults included); [`redact`]
//! masks Secret values in either, and [`normalise`] reads a Secret's
//! write-only `stringData` as the `data` the API server turns it into.

use std::borrow::Cow;

use base64::Engine as _;
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

/// What a Secret's values read as in a diff (the runtime's mask, as Argo
/// CD's): the key that changed shows, its value does not.
pub const REDACTED: &str = "++++++++";

/// The fields of `desired` whose value differs in `live`.
pub fn diff(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk(desired, live, false, &mut String::new(), &mut out);
    out
}

/// [`diff`], plus the fields only `live` has (reported with `desired`
/// null): for a `desired` that is the whole object as the target would
/// store it, so a field git dropped shows as going away.
pub fn diff_full(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk(desired, live, true, &mut String::new(), &mut out);
    out
}

/// Fields the comparison never looks at: top-level `status` and the
/// server's metadata.
fn ignored(path: &str, key: &str) -> bool {
    (path.is_empty() && key == "status") || (path == "metadata" && SERVER_META.contains(&key))
}

fn walk(desired: &Value, live: &Value, full: bool, path: &mut String, out: &mut Vec<FieldDiff>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                if ignored(path, k) {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match l.get(k) {
                    Some(lv) => walk(dv, lv, full, path, out),
                    None if is_empty(dv) => {}
                    None => out.push(FieldDiff {
                        path: path.clone(),
                        desired: dv.clone(),
                        live: Value::Null,
                    }),
                }
                path.truncate(len);
            }
            if full {
                only_live(d, l, path, out);
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                let len = path.len();
                path.push_str(&format!(".{i}"));
                walk(dv, lv, full, path, out);
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

/// The keys of `l` that `d` lacks, as going away.
fn only_live(
    d: &serde_json::Map<String, Value>,
    l: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<FieldDiff>,
) {
    for (k, lv) in l {
        if d.contains_key(k) || ignored(path, k) || is_empty(lv) {
            continue;
        }
        let at = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        out.push(FieldDiff {
            path: at,
            desired: Value::Null,
            live: lv.clone(),
        });
    }
}

/// `v` as the comparison reads it: a Secret's `stringData` entries merged
/// into `data`, base64-encoded (they win, as on the API server, which
/// stores only `data`), so git's `stringData` matches a cluster's `data`.
pub fn normalise<'a>(group: &str, kind: &str, v: &'a Value) -> Cow<'a, Value> {
    let Some(Value::Object(strings)) = v.get("stringData") else {
        return Cow::Borrowed(v);
    };
    if !(group.is_empty() && kind == "Secret") {
        return Cow::Borrowed(v);
    }
    let mut out = v.clone();
    let mut data = match out.get("data") {
        Some(Value::Object(d)) => d.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, s) in strings {
        let text = s.as_str().map_or_else(|| s.to_string(), str::to_string);
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        data.insert(k.clone(), Value::String(encoded));
    }
    if let Some(o) = out.as_object_mut() {
        o.remove("stringData");
        o.insert("data".into(), Value::Object(data));
    }
    Cow::Owned(out)
}

/// Masks the values in `diffs` of a Secret (`kind` as in `Secret` of the
/// core group): `data` and `stringData` entries, and the last-applied
/// annotation (which holds them too). Other kinds are left alone.
pub fn redact(group: &str, kind: &str, diffs: &mut [FieldDiff]) {
    if !(group.is_empty() && kind == "Secret") {
        return;
    }
    for d in diffs {
        for v in [&mut d.desired, &mut d.live] {
            mask(&d.path, v);
        }
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn mask(path: &str, v: &mut Value) {
    let values = ["data", "stringData"]
        .iter()
        .any(|f| path == *f || path.strip_prefix(f).is_some_and(|r| r.starts_with('.')));
    if values || path == format!("metadata.annotations.{LAST_APPLIED}") {
        mask_all(v);
    } else if path == "metadata.annotations" {
        if let Some(a) = v.get_mut(LAST_APPLIED) {
            mask_all(a);
        }
    } else if path == "metadata" || path.is_empty() {
        // A whole object or its metadata (one side absent).
        for f in ["data", "stringData"] {
            if let Some(x) = v.get_mut(f) {
                mask_all(x);
            }
        }
        let meta = if path.is_empty() {
            v.get_mut("metadata")
        } else {
            Some(v)
        };
        if let Some(a) = meta
            .and_then(|m| m.get_mut("annotations"))
            .and_then(|a| a.get_mut(LAST_APPLIED))
        {
            mask_all(a);
        }
    }
}

/// Every value below `v` masked, keys kept; absent stays absent.
fn mask_all(v: &mut Value) {
    match v {
        Value::Null => {}
        Value::Object(m) => m.values_mut().for_each(mask_all),
        Value::Array(a) => a.iter_mut().for_each(mask_all),
        other => *other = Value::String(REDACTED.into()),
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

/// Renders diffs as `path: live → desired` lines (see
/// [`crate::change::Change::lines`]).
pub fn describe(diffs: &[FieldDiff]) -> Vec<String> {
    diffs
        .iter()
        .cloned()
        .flat_map(|d| crate::change::Change::from(d).lines())
        .collect()
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

    #[test]
    fn a_full_diff_reports_what_only_live_has_but_not_server_fields() {
        let dry = json!({"metadata": {"name": "a", "resourceVersion": "10"},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "a"}}}}, "status": {"x": 1}});
        let live = json!({"metadata": {"name": "a", "resourceVersion": "9", "uid": "u"},
            "spec": {"replicas": 1, "paused": true, "template": {"metadata": {"labels": {"app": "a", "old": "y"}}}},
            "status": {"x": 2, "y": 3}});
        let d = diff_full(&dry, &live);
        assert_eq!(
            describe(&d),
            [
                "spec.template.metadata.labels.old: y → <absent>",
                "spec.paused: true → <absent>"
            ]
        );
        assert!(
            diff(&dry, &live).is_empty(),
            "one-sided: only desired fields"
        );
    }

    #[test]
    fn secret_values_are_masked_whichever_side_holds_them() {
        let desired = json!({"metadata": {"annotations": {}}, "data": {"password": "bmV3", "user": "YQ=="}, "stringData": {"token": "t"}});
        let live = json!({"metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"b2xk\"}}"}},
            "data": {"password": "b2xk", "user": "YQ=="}});
        let mut d = diff_full(&desired, &live);
        redact("", "Secret", &mut d);
        let mut lines = describe(&d);
        lines.sort();
        let text = lines.join("\n");
        assert_eq!(
            text,
            format!(
                "data.password: {REDACTED} → {REDACTED}\nmetadata.annotations.{LAST_APPLIED}: {REDACTED} → <absent>\nstringData: <absent> → {{\"token\":\"{REDACTED}\"}}"
            )
        );
        for secret in ["bmV3", "b2xk", "\"t\""] {
            assert!(!text.contains(secret), "{text}");
        }
        let mut whole = vec![FieldDiff {
            path: String::new(),
            desired: desired.clone(),
            live: Value::Null,
        }];
        redact("", "Secret", &mut whole);
        assert!(!whole[0].desired.to_string().contains("bmV3"));
        let mut cm = diff(&json!({"data": {"k": "v2"}}), &json!({"data": {"k": "v1"}}));
        redact("", "ConfigMap", &mut cm);
        assert_eq!(
            describe(&cm),
            ["data.k: v1 → v2"],
            "only Secrets are masked"
        );
    }

    #[test]
    fn a_secrets_string_data_is_compared_as_data() {
        let git = json!({"stringData": {"password": "s3cret"}, "data": {"user": "YQ=="}});
        let cluster = json!({"data": {"password": "czNjcmV0", "user": "YQ=="}, "type": "Opaque"});
        let want = normalise("", "Secret", &git);
        assert!(diff(&want, &cluster).is_empty(), "{want}");
        assert!(
            diff(&want, &normalise("", "Secret", &git)).is_empty(),
            "embedded keeps stringData"
        );
        let edited = json!({"data": {"password": "ZWRpdGVk", "user": "YQ=="}});
        assert_eq!(diff(&want, &edited).len(), 1);
        let cm = json!({"stringData": {"a": "b"}});
        assert!(matches!(normalise("", "ConfigMap", &cm), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn an_object_never_differs_from_itself(v in json_value()) {
            prop_assert!(diff(&v, &v).is_empty());
            prop_assert!(diff_full(&v, &v).is_empty());
        }
    }
}
