//! Tests of the object tree built from an app's live objects.

use super::*;
use serde_json::json;

fn rs(name: &str, owner: &str, revision: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "dev",
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u"}]},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
    })
}

fn pod(name: &str, owner: &str, waiting: Option<&str>) -> Value {
    let state = match waiting {
        Some(r) => json!({"waiting": {"reason": r, "message": "back-off pulling"}}),
        None => json!({"running": {}}),
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "dev",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": "u"}]},
        "status": {"phase": if waiting.is_some() {"Pending"} else {"Running"},
            "conditions": [{"type": "Ready", "status": if waiting.is_some() {"False"} else {"True"}}],
            "containerStatuses": [{"name": "c", "ready": waiting.is_none(), "state": state}]}
    })
}

#[test]
fn deployments_own_their_replica_sets_and_those_their_pods() {
    let app = crate::testdata::app("web", &[("dev", "uk")], Health::Healthy);
    let live = Live {
        replica_sets: vec![
            rs("web-old", "web", "1", 0),
            rs("web-new", "web", "2", 2),
            rs("other-1", "other", "1", 1),
        ],
        pods: vec![
            pod("web-new-a", "web-new", None),
            pod("web-new-b", "web-new", Some("ImagePullBackOff")),
            pod("other-1-a", "other-1", None),
        ],
    };
    let tree = build(&app.environments[0].objects, &live);
    let kinds: Vec<&str> = tree.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["Deployment", "Service", "Ingress"]);
    let dep = &tree[0];
    assert_eq!(dep.sync, Some("Synced"));
    assert_eq!(
        dep.children.len(),
        1,
        "the old set has no replicas nor pods"
    );
    let set = &dep.children[0];
    assert_eq!(
        (set.kind.as_str(), set.name.as_str()),
        ("ReplicaSet", "web-new")
    );
    assert_eq!(set.sync, None, "ferry did not apply it");
    let pods: Vec<(&str, Health)> = set
        .children
        .iter()
        .map(|p| (p.name.as_str(), p.health))
        .collect();
    assert_eq!(
        pods,
        [
            ("web-new-a", Health::Healthy),
            ("web-new-b", Health::Degraded)
        ]
    );
    assert!(
        set.children[1]
            .why
            .as_deref()
            .unwrap()
            .contains("ImagePullBackOff")
    );
    assert!(tree[1].children.is_empty(), "a Service has no children");
}

#[test]
fn newer_replica_sets_come_first_and_old_ones_with_pods_stay() {
    let app = crate::testdata::app("web", &[("dev", "uk")], Health::Progressing);
    let live = Live {
        replica_sets: vec![rs("web-1", "web", "1", 0), rs("web-10", "web", "10", 1)],
        pods: vec![
            pod("web-1-a", "web-1", None),
            pod("web-10-a", "web-10", None),
        ],
    };
    let tree = build(&app.environments[0].objects, &live);
    let names: Vec<&str> = tree[0].children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["web-10", "web-1"], "revision 10 is newer than 1");
}
