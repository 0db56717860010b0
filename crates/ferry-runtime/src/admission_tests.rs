//! Admission over object sets: a quota in the same change set governs the
//! objects beside it, usage accumulates in order, updates charge their
//! growth, pods are defaulted and templates checked.

use ferry_core::objects::StoredObject;
use serde_json::{Value, json};

use super::*;

fn obj(kind: Kind, name: &str, value: Value) -> StoredObject {
    StoredObject {
        group_kind: kind.group_kind(),
        namespace: Some("q".into()),
        name: name.into(),
        source: "m.yaml document 0".into(),
        value,
    }
}

fn pod(name: &str, resources: Value) -> StoredObject {
    obj(
        Kind::Pod,
        name,
        json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox", "resources": resources}]}}),
    )
}

fn quota(hard: Value) -> StoredObject {
    obj(
        Kind::ResourceQuota,
        "compute",
        json!({"metadata": {"name": "compute"}, "spec": {"hard": hard}}),
    )
}

fn never(_: &StoredObject) -> bool {
    false
}

#[test]
fn a_quota_applied_with_pods_governs_them_in_order() {
    let q = quota(json!({"pods": "2"}));
    let mut set = [
        q,
        pod("a", json!({})),
        pod("b", json!({})),
        pod("c", json!({})),
    ];
    let governing: Vec<&StoredObject> = set.iter().collect();
    let mut adm = Admission::new(&governing, &[], &never);
    let results: Vec<Result<(), String>> =
        set.iter_mut().map(|o| adm.admit(o, None, &never)).collect();
    assert!(results[..3].iter().all(Result::is_ok));
    assert_eq!(
        results[3].as_ref().unwrap_err(),
        "pods \"c\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"
    );
}

#[test]
fn existing_usage_counts_and_updates_charge_growth() {
    let q = quota(json!({"requests.cpu": "1", "limits.cpu": "2"}));
    let running = pod(
        "a",
        json!({"requests": {"cpu": "600m"}, "limits": {"cpu": "1"}}),
    );
    let existing = [&q, &running];
    let mut adm = Admission::new(&existing, &existing, &never);
    let mut same = running.clone();
    assert_eq!(adm.admit(&mut same, Some(&running), &never), Ok(()));
    let mut more = pod(
        "b",
        json!({"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}),
    );
    assert_eq!(
        adm.admit(&mut more, None, &never).unwrap_err(),
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=600m, limited: requests.cpu=1"
    );
    let mut bare = pod("c", json!({}));
    assert_eq!(
        adm.admit(&mut bare, None, &never).unwrap_err(),
        "pods \"c\" is forbidden: failed quota: compute: must specify limits.cpu for: main; requests.cpu for: main"
    );
    // A finished pod frees its share.
    let mut adm = Admission::new(&existing, &existing, &|_| true);
    assert_eq!(adm.admit(&mut more, None, &never), Ok(()));
}

#[test]
fn pods_are_defaulted_and_annotated() {
    let range = obj(
        Kind::LimitRange,
        "lr",
        json!({"spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "64Mi"}, "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]}}),
    );
    let mut adm = Admission::new(&[&range], &[], &never);
    let mut p = pod("a", json!({}));
    adm.admit(&mut p, None, &never).unwrap();
    assert_eq!(
        p.value["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}})
    );
    assert_eq!(
        p.value["metadata"]["annotations"][crate::limit_range::ANNOTATION],
        "LimitRanger plugin set: cpu, memory request for container main; cpu, memory limit for container main"
    );
    let mut big = pod("big", json!({"limits": {"cpu": "2"}}));
    assert_eq!(
        adm.admit(&mut big, None, &never).unwrap_err(),
        "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
    let mut over = pod("over", json!({"requests": {"cpu": "800m"}}));
    assert_eq!(
        adm.admit(&mut over, None, &never).unwrap_err(),
        "Pod \"over\" is invalid: spec.containers[0].resources.requests: Invalid value: \"800m\": must be less than or equal to cpu limit of 500m"
    );
}

#[test]
fn templates_that_can_never_run_are_named() {
    let q = quota(json!({"requests.memory": "1Gi"}));
    let adm = Admission::new(&[&q], &[], &never);
    let spec = json!({"containers": [{"name": "web", "image": "nginx"}]});
    assert_eq!(
        adm.check_template("q", &spec),
        ["failed quota: compute: must specify requests.memory for: web"]
    );
    let huge =
        json!({"containers": [{"name": "web", "resources": {"requests": {"memory": "2Gi"}}}]});
    assert_eq!(
        adm.check_template("q", &huge),
        [
            "exceeded quota: compute, requested: requests.memory=2Gi, used: requests.memory=0, limited: requests.memory=1Gi"
        ]
    );
    assert!(adm.check_template("other", &spec).is_empty());
}

#[test]
fn status_shows_hard_and_used() {
    let q = quota(json!({"pods": "2", "requests.cpu": "1"}));
    let p = pod("a", json!({"requests": {"cpu": "250m"}}));
    let adm = Admission::new(&[&q, &p], &[&q, &p], &never);
    assert_eq!(
        adm.statuses("q"),
        [(
            "compute".to_string(),
            json!({"hard": {"pods": "2", "requests.cpu": "1"}, "used": {"pods": "1", "requests.cpu": "250m"}})
        )]
    );
}
