//! Quota decisions against the Kubernetes documentation's examples
//! ("Configure Memory and CPU Quotas for a Namespace", "Configure a Pod
//! Quota for a Namespace", "Configure Quotas for API Objects", the
//! ResourceQuota concept page's scopes).

use serde_json::{Value, json};

use super::*;

fn quota(spec: Value) -> Quota {
    Quota::of(&json!({"metadata": {"name": "mem-cpu-demo"}, "spec": spec}))
}

fn pod(name: &str, limits: Value, requests: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"containers": [
        {"name": "main", "image": "nginx", "resources": {"limits": limits, "requests": requests}}]}})
}

fn pod_usage(p: &Value) -> ResourceList {
    usage("", "Pod", "pods", p, false)
}

#[test]
fn memory_and_cpu_quota() {
    let q = quota(
        json!({"hard": {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"}}),
    );
    let first = pod(
        "quota-mem-cpu-demo",
        json!({"memory": "800Mi", "cpu": "800m"}),
        json!({"memory": "600Mi", "cpu": "400m"}),
    );
    let used = ResourceList::new();
    assert_eq!(check(&q, &used, &pod_usage(&first)), Ok(()));
    let used = crate::quantity::add(&used, &pod_usage(&first));
    let second = pod(
        "quota-mem-cpu-demo-2",
        json!({"memory": "1Gi", "cpu": "800m"}),
        json!({"memory": "700Mi", "cpu": "400m"}),
    );
    let err = check(&q, &used, &pod_usage(&second)).unwrap_err();
    assert_eq!(
        err,
        "exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi"
    );
    assert_eq!(
        forbidden("", "pods", "quota-mem-cpu-demo-2", &err),
        format!("pods \"quota-mem-cpu-demo-2\" is forbidden: {err}")
    );
}

#[test]
fn pod_count_quota() {
    let q = quota(json!({"hard": {"pods": "2"}}));
    let p = pod("a", json!({}), json!({}));
    let mut used = ResourceList::new();
    for _ in 0..2 {
        check(&q, &used, &pod_usage(&p)).unwrap();
        used = crate::quantity::add(&used, &pod_usage(&p));
    }
    assert_eq!(
        check(&q, &used, &pod_usage(&p)).unwrap_err(),
        "exceeded quota: mem-cpu-demo, requested: pods=1, used: pods=2, limited: pods=2"
    );
    // A finished pod no longer counts against `pods`.
    assert!(!usage("", "Pod", "pods", &p, true).contains_key("pods"));
}

#[test]
fn must_specify_what_the_quota_tracks() {
    let q = quota(json!({"hard": {"limits.cpu": "2", "requests.memory": "1Gi", "pods": "4"}}));
    let spec = json!({"containers": [
        {"name": "main", "resources": {"requests": {"memory": "1Mi"}}},
        {"name": "side", "resources": {}}]});
    assert_eq!(
        constraints(&q, &spec).unwrap_err(),
        "failed quota: mem-cpu-demo: must specify limits.cpu for: main,side; requests.memory for: side"
    );
    let ok = json!({"containers": [{"name": "main", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Mi"}}}]});
    assert_eq!(constraints(&q, &ok), Ok(()));
    assert_eq!(
        constraints(&quota(json!({"hard": {"pods": "1"}})), &spec),
        Ok(())
    );
}

#[test]
fn object_counts() {
    let q = quota(
        json!({"hard": {"persistentvolumeclaims": "1", "services.loadbalancers": "2", "services.nodeports": "0", "count/deployments.apps": "1"}}),
    );
    let node_port = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
    let err = check(
        &q,
        &ResourceList::new(),
        &usage("", "Service", "services", &node_port, false),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "exceeded quota: mem-cpu-demo, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0"
    );
    let cluster_ip = json!({"spec": {"ports": [{"port": 80}]}});
    let d = delta(&usage("", "Service", "services", &cluster_ip, false), None);
    assert_eq!(check(&q, &ResourceList::new(), &d), Ok(()));
    let claim = json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "gold"}});
    let u = usage(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &claim,
        false,
    );
    assert_eq!(
        crate::quantity::pretty(&u),
        "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"
    );
    let used = usage("apps", "Deployment", "deployments", &json!({}), false);
    let err = check(&q, &used, &used).unwrap_err();
    assert_eq!(
        err,
        "exceeded quota: mem-cpu-demo, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"
    );
    // An update charges only its growth: an unchanged Deployment nothing.
    assert!(delta(&used, Some(&used)).is_empty());
}

#[test]
fn scopes_select_pods() {
    let best_effort = Quota::of(
        &json!({"metadata": {"name": "be"}, "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}}),
    );
    let plain = pod("a", json!({}), json!({}));
    let sized = pod("b", json!({"cpu": "1"}), json!({}));
    assert!(best_effort.matches("Pod", &plain));
    assert!(!best_effort.matches("Pod", &sized));
    assert!(!best_effort.matches("Service", &json!({})));
    let high = Quota::of(
        &json!({"metadata": {"name": "high"}, "spec": {"hard": {"pods": "1"},
        "scopeSelector": {"matchExpressions": [{"operator": "In", "scopeName": "PriorityClass", "values": ["high"]}]}}}),
    );
    let mut p = plain.clone();
    assert!(!high.matches("Pod", &p));
    p["spec"]["priorityClassName"] = json!("high");
    assert!(high.matches("Pod", &p));
    let terminating =
        Quota::of(&json!({"metadata": {"name": "t"}, "spec": {"scopes": ["Terminating"]}}));
    p["spec"]["activeDeadlineSeconds"] = json!(30);
    assert!(terminating.matches("Pod", &p) && !terminating.matches("Pod", &plain));
}

#[test]
fn init_containers_raise_the_pod_total() {
    let spec = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}, {"name": "b", "resources": {"requests": {"cpu": "100m"}}}],
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "500m"}}}]}});
    assert_eq!(
        crate::quantity::pretty(&pod_usage(&spec)),
        "count/pods=1,cpu=500m,pods=1,requests.cpu=500m"
    );
}
