//! How a fleet's live objects read as one (pure): the engine compares one
//! live copy per key, so [`merge`] folds each cluster's copy into one. A
//! key missing on any cluster is left out (the engine sees it Missing and
//! applies it to every cluster, which changes nothing where it exists).
//! Where the copies agree the value is theirs; where they disagree it is
//! [`DIFFERS`], which equals nothing git holds, so the engine sees the
//! field OutOfSync (and self-heal applies it everywhere) although no single
//! cluster's value is right to show; `ferry app diff` shows each cluster's.
//! `status` is the copy's whose health is worst, so the fleet is as
//! healthy as its least healthy cluster.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use serde_json::{Map, Value};

use crate::health::{object_health, worst};
use crate::object::ObjKey;

/// A field whose value is not the same on every cluster of a fleet.
pub const DIFFERS: &str = "<differs between clusters>";

/// Metadata each cluster fills in for itself, taken from the first copy.
const OWN_META: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
];

/// One list per cluster (in member order) folded into one list, by key.
pub fn merge(lists: &[Vec<StoredObject>]) -> Vec<StoredObject> {
    let mut by_key: BTreeMap<ObjKey, Vec<&StoredObject>> = BTreeMap::new();
    for list in lists {
        for o in list {
            by_key.entry(ObjKey::of(o)).or_default().push(o);
        }
    }
    by_key
        .into_values()
        .filter(|copies| copies.len() == lists.len())
        .filter_map(|copies| {
            let first = copies.first()?;
            let values: Vec<&Value> = copies.iter().map(|o| &o.value).collect();
            Some(StoredObject {
                value: merge_object(&values),
                ..(*first).clone()
            })
        })
        .collect()
}

/// The copies of one object as one value.
fn merge_object(copies: &[&Value]) -> Value {
    let mut out = fold(copies, "");
    let health = worst(copies.iter().map(|v| object_health(Some(v))));
    let worst = copies
        .iter()
        .find(|v| object_health(Some(v)) == health)
        .and_then(|v| v.get("status"));
    if let (Some(o), Some(status)) = (out.as_object_mut(), worst) {
        o.insert("status".into(), status.clone());
    }
    out
}

fn fold(copies: &[&Value], path: &str) -> Value {
    let Some(first) = copies.first() else {
        return Value::Null;
    };
    if copies.iter().all(|c| c == first) {
        return (*first).clone();
    }
    if let Some(maps) = copies
        .iter()
        .map(|c| c.as_object())
        .collect::<Option<Vec<_>>>()
    {
        return fold_maps(&maps, path);
    }
    let arrays: Option<Vec<&Vec<Value>>> = copies.iter().map(|c| c.as_array()).collect();
    if let Some(arrays) = arrays.filter(|a| a.iter().all(|x| x.len() == a[0].len())) {
        let items = (0..arrays[0].len())
            .map(|i| {
                let at: Vec<&Value> = arrays.iter().map(|a| &a[i]).collect();
                fold(&at, &format!("{path}.{i}"))
            })
            .collect();
        return Value::Array(items);
    }
    Value::String(DIFFERS.into())
}

fn fold_maps(maps: &[&Map<String, Value>], path: &str) -> Value {
    let mut out = Map::new();
    let mut keys: Vec<&String> = Vec::new();
    for k in maps.iter().flat_map(|m| m.keys()) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for k in keys {
        let own = (path == "metadata" && OWN_META.contains(&k.as_str()))
            || (path.is_empty() && k == "status");
        let at = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let present: Vec<&Value> = maps.iter().filter_map(|m| m.get(k)).collect();
        let v = if own {
            present.first().map(|v| (*v).clone()).unwrap_or_default()
        } else if present.len() < maps.len() {
            Value::String(DIFFERS.into())
        } else {
            fold(&present, &at)
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::health::Health;
    use ferry_core::objects::GroupKind;
    use serde_json::json;

    fn obj(kind: &str, name: &str, value: Value) -> StoredObject {
        StoredObject {
            group_kind: GroupKind::new("apps", kind),
            namespace: Some("dev".into()),
            name: name.into(),
            source: String::new(),
            value,
        }
    }

    fn deploy(replicas: i64, ready: i64, uid: &str) -> StoredObject {
        obj(
            "Deployment",
            "web",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "uid": uid, "labels": {"app": "web"}},
                "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": "x:1"}]}}},
                "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas, "availableReplicas": ready}}),
        )
    }

    #[test]
    fn agreeing_copies_read_as_one_and_per_cluster_fields_do_not_differ() {
        let merged = merge(&[vec![deploy(1, 1, "a")], vec![deploy(1, 1, "b")]]);
        assert_eq!(merged.len(), 1);
        let git = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        assert!(diff(&git, &merged[0].value).is_empty());
        assert_eq!(merged[0].value["metadata"]["uid"], "a");
    }

    #[test]
    fn a_field_edited_on_one_cluster_differs_and_the_worst_status_wins() {
        let merged = merge(&[vec![deploy(1, 1, "a")], vec![deploy(3, 0, "b")]]);
        let v = &merged[0].value;
        assert_eq!(v["spec"]["replicas"], DIFFERS);
        let git = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "x:1"}]}}}});
        let d = diff(&git, v);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].path, "spec.replicas");
        assert_eq!(
            v["status"]["readyReplicas"], 0,
            "the unready cluster's status"
        );
        assert_ne!(object_health(Some(v)), Health::Healthy);
    }

    #[test]
    fn an_object_missing_on_one_cluster_is_missing_and_one_sided_fields_differ() {
        let cm = |data: Value| obj("ConfigMap", "cfg", json!({"data": data}));
        let merged = merge(&[
            vec![deploy(1, 1, "a"), cm(json!({"k": "v", "extra": "x"}))],
            vec![cm(json!({"k": "v"}))],
        ]);
        assert_eq!(
            merged.len(),
            1,
            "the Deployment is only on the first cluster"
        );
        assert_eq!(merged[0].value["data"]["k"], "v");
        assert_eq!(merged[0].value["data"]["extra"], DIFFERS);
        assert!(merge(&[]).is_empty());
    }
}
