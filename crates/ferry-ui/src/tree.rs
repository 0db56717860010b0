//! The object tree of one application in one environment, as Argo CD draws
//! it: the objects ferry applied (with their sync state and health from the
//! engine) and below each Deployment the ReplicaSets it owns and below each
//! of those its Pods (from the runtime's live objects, health assessed as
//! the engine assesses it). Pure: the caller lists the live objects.

use ferry_delivery::health::{self, Health};
use ferry_delivery::sync::ObjectStatus;
use serde_json::Value;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: String,
    pub name: String,
    /// `Synced`, `OutOfSync`, `Missing`; `None` for objects ferry did not
    /// apply itself (ReplicaSets, Pods).
    pub sync: Option<&'static str>,
    pub health: Health,
    /// Why it is not Healthy.
    pub why: Option<String>,
    pub children: Vec<Node>,
}

/// Live objects of the environment's namespace below its Deployments.
#[derive(Debug, Default, Clone)]
pub struct Live {
    pub replica_sets: Vec<Value>,
    pub pods: Vec<Value>,
}

/// The tree: applied objects in the engine's order (workloads first as
/// `order.rs` sorts them), each Deployment with its ReplicaSets (newest
/// first; old ones scaled to zero with no pods left out) and their Pods.
pub fn build(objects: &[ObjectStatus], live: &Live) -> Vec<Node> {
    objects
        .iter()
        .map(|o| {
            let kind = o.key.group_kind.kind.clone();
            let children = if kind == "Deployment" {
                replica_sets(&o.key.name, live)
            } else {
                vec![]
            };
            Node {
                kind,
                name: o.key.name.clone(),
                sync: Some(o.sync),
                health: o.health,
                why: why(o.reason.as_deref(), o.message.as_deref()),
                children,
            }
        })
        .collect()
}

fn replica_sets(deployment: &str, live: &Live) -> Vec<Node> {
    let mut owned: Vec<&Value> = live
        .replica_sets
        .iter()
        .filter(|rs| owned_by(rs, "Deployment", deployment))
        .collect();
    owned.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    owned
        .into_iter()
        .filter_map(|rs| {
            let name = rs["metadata"]["name"].as_str()?;
            let pods: Vec<Node> = live
                .pods
                .iter()
                .filter(|p| owned_by(p, "ReplicaSet", name))
                .map(|p| live_node("Pod", p))
                .collect();
            let replicas = rs["spec"]["replicas"].as_i64().unwrap_or(1);
            if replicas == 0 && pods.is_empty() {
                return None;
            }
            let mut node = live_node("ReplicaSet", rs);
            node.children = pods;
            Some(node)
        })
        .collect()
}

fn live_node(kind: &str, v: &Value) -> Node {
    let a = health::assess(Some(v));
    Node {
        kind: kind.to_string(),
        name: v["metadata"]["name"].as_str().unwrap_or("?").to_string(),
        sync: None,
        health: a.health,
        why: why(a.reason.as_deref(), a.message.as_deref()),
        children: vec![],
    }
}

fn owned_by(v: &Value, kind: &str, name: &str) -> bool {
    v["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["kind"] == kind && r["name"] == name))
}

/// `deployment.kubernetes.io/revision`, as a number.
fn revision(rs: &Value) -> u64 {
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn why(reason: Option<&str>, message: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [reason, message].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(": "))
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
