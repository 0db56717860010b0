//! LimitRange decisions against the Kubernetes documentation's examples
//! ("Configure Default Memory Requests and Limits", "Configure Default CPU
//! Requests and Limits", "Configure Minimum and Maximum CPU / Memory
//! Constraints for a Namespace").

use serde_json::{Value, json};

use super::*;

fn range(limits: Value) -> Vec<Item> {
    items(&json!({"spec": {"limits": limits}}))
}

fn pod(resources: Value) -> Value {
    json!({"containers": [{"name": "main", "image": "nginx", "resources": resources}]})
}

/// Admission as the API server runs it: pod defaults, LimitRange defaults, checks.
fn admit(items: &[Item], mut spec: Value) -> (Value, Option<String>, Vec<String>) {
    requests_from_limits(&mut spec);
    let note = apply_defaults(&mut spec, items);
    let errs = check_pod(&spec, items);
    (spec["containers"][0]["resources"].clone(), note, errs)
}

#[test]
fn default_memory_request_and_limit() {
    let lr = range(
        json!([{"default": {"memory": "512Mi"}, "defaultRequest": {"memory": "256Mi"}, "type": "Container"}]),
    );
    let (res, note, errs) = admit(&lr, pod(json!({})));
    assert_eq!(
        res,
        json!({"limits": {"memory": "512Mi"}, "requests": {"memory": "256Mi"}})
    );
    assert_eq!(
        note.as_deref(),
        Some(
            "LimitRanger plugin set: memory request for container main; memory limit for container main"
        )
    );
    assert!(errs.is_empty());
    // A limit but no request: the request is the limit, not the default.
    let (res, _, _) = admit(&lr, pod(json!({"limits": {"memory": "1Gi"}})));
    assert_eq!(
        res,
        json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}})
    );
    // A request but no limit: the default limit.
    let (res, _, _) = admit(&lr, pod(json!({"requests": {"memory": "128Mi"}})));
    assert_eq!(
        res,
        json!({"limits": {"memory": "512Mi"}, "requests": {"memory": "128Mi"}})
    );
}

#[test]
fn default_cpu_request_and_limit() {
    let lr = range(
        json!([{"default": {"cpu": 1}, "defaultRequest": {"cpu": 0.5}, "type": "Container"}]),
    );
    let (res, _, _) = admit(&lr, pod(json!({})));
    assert_eq!(
        res,
        json!({"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}})
    );
}

#[test]
fn cpu_min_and_max() {
    let lr = range(json!([{"max": {"cpu": "800m"}, "min": {"cpu": "200m"}, "type": "Container"}]));
    let (_, _, errs) = admit(
        &lr,
        pod(json!({"limits": {"cpu": "800m"}, "requests": {"cpu": "500m"}})),
    );
    assert!(errs.is_empty(), "{errs:?}");
    let (_, _, errs) = admit(
        &lr,
        pod(json!({"limits": {"cpu": "1.5"}, "requests": {"cpu": "500m"}})),
    );
    assert_eq!(
        errs,
        ["maximum cpu usage per Container is 800m, but limit is 1500m"]
    );
    let (_, _, errs) = admit(
        &lr,
        pod(json!({"limits": {"cpu": "800m"}, "requests": {"cpu": "100m"}})),
    );
    assert_eq!(
        errs,
        ["minimum cpu usage per Container is 200m, but request is 100m"]
    );
    // No resources: max is the default limit and the default request.
    let (res, _, errs) = admit(&lr, pod(json!({})));
    assert_eq!(
        res,
        json!({"limits": {"cpu": "800m"}, "requests": {"cpu": "800m"}})
    );
    assert!(errs.is_empty());
}

#[test]
fn memory_min_and_max() {
    let lr =
        range(json!([{"max": {"memory": "1Gi"}, "min": {"memory": "500Mi"}, "type": "Container"}]));
    let (_, _, errs) = admit(
        &lr,
        pod(json!({"limits": {"memory": "1.5Gi"}, "requests": {"memory": "800Mi"}})),
    );
    assert_eq!(
        errs,
        ["maximum memory usage per Container is 1Gi, but limit is 1536Mi"]
    );
    let (_, _, errs) = admit(
        &lr,
        pod(json!({"limits": {"memory": "800Mi"}, "requests": {"memory": "100Mi"}})),
    );
    assert_eq!(
        errs,
        ["minimum memory usage per Container is 500Mi, but request is 100Mi"]
    );
}

#[test]
fn pod_totals_ratio_and_aggregate() {
    let spec = json!({"containers": [
        {"name": "a", "resources": {"limits": {"cpu": "600m"}, "requests": {"cpu": "100m"}}},
        {"name": "b", "resources": {"limits": {"cpu": "600m"}, "requests": {"cpu": "300m"}}}]});
    let lr = range(
        json!([{"type": "Pod", "max": {"cpu": "1"}}, {"type": "Container", "maxLimitRequestRatio": {"cpu": 2}}]),
    );
    let errs = check_pod(&spec, &lr);
    assert_eq!(
        aggregate(&errs).unwrap(),
        "[maximum cpu usage per Pod is 1, but limit is 1200m, cpu max limit to request ratio per Container is 2, but provided ratio is 6.000000]"
    );
}

#[test]
fn a_default_limit_below_the_request_is_invalid() {
    let lr = range(json!([{"default": {"cpu": "500m"}, "type": "Container"}]));
    let mut spec = pod(json!({"requests": {"cpu": "1"}}));
    apply_defaults(&mut spec, &lr);
    assert_eq!(
        requests_over_limits(&spec, "spec"),
        [(
            "spec.containers[0].resources.requests".to_string(),
            "Invalid value: \"1\": must be less than or equal to cpu limit of 500m".to_string()
        )]
    );
}

#[test]
fn claim_min_and_max_storage() {
    let lr = range(
        json!([{"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}, "min": {"storage": "1Gi"}}]),
    );
    let claim = |s: &str| json!({"spec": {"resources": {"requests": {"storage": s}}}});
    assert!(check_claim(&claim("1Gi"), &lr).is_empty());
    assert_eq!(
        check_claim(&claim("5Gi"), &lr),
        ["maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"]
    );
    assert_eq!(
        check_claim(&claim("500Mi"), &lr),
        ["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]
    );
}
