//! Whether a pod fits this machine's node, as Kubernetes' scheduler
//! decides it for one node: `spec.unschedulable` (a cordon) unless the pod
//! tolerates `node.kubernetes.io/unschedulable`, `nodeSelector`, required
//! node affinity (`matchExpressions` on labels, `matchFields` on
//! `metadata.name`) and the node's NoSchedule/NoExecute taints. Pure; the
//! node's labels are Kubernetes' well-known ones. `node.rs` acts on it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, PodSpec, Taint, Toleration};

/// The taint a cordoned node carries.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// What scheduling needs of the node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
}

/// Kubernetes' well-known labels of the node `name` (the region).
pub fn node_labels(name: &str) -> BTreeMap<String, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", arch),
        ("topology.kubernetes.io/region", name),
        ("node-role.kubernetes.io/control-plane", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The scheduler's message for a pod that fits no node, from the first
/// failing check (its reason is `Unschedulable`).
fn message(why: &str) -> String {
    format!(
        "0/1 nodes are available: 1 {why}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
}

/// `Ok` when the pod may run on `node`, else the scheduler's message.
pub fn fits(spec: &PodSpec, node: &NodeView) -> Result<(), String> {
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let cordon = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if node.unschedulable && !tolerated(&cordon, tolerations) {
        return Err(message("node(s) were unschedulable"));
    }
    if !selector_matches(spec, node) {
        return Err(message("node(s) didn't match Pod's node affinity/selector"));
    }
    let blocking = node.taints.iter().find(|t| {
        matches!(t.effect.as_str(), "NoSchedule" | "NoExecute") && !tolerated(t, tolerations)
    });
    if let Some(t) = blocking {
        // A cordon's taint is reported as the cordon above.
        if t.key != UNSCHEDULABLE_TAINT || !node.unschedulable {
            let value = t.value.as_deref().unwrap_or_default();
            return Err(message(&format!(
                "node(s) had untolerated taint {{{}: {value}}}",
                t.key
            )));
        }
    }
    Ok(())
}

/// nodeSelector and required node affinity (terms ORed, expressions ANDed).
pub fn selector_matches(spec: &PodSpec, node: &NodeView) -> bool {
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = required.is_none_or(|r| {
        r.node_selector_terms.iter().any(|term| {
            let exprs = term.match_expressions.iter().flatten();
            let fields = term.match_fields.iter().flatten();
            let has_any = exprs.clone().next().is_some() || fields.clone().next().is_some();
            has_any
                && exprs
                    .clone()
                    .all(|e| requirement(e, node.labels.get(&e.key).map(String::as_str)))
                && fields.clone().all(|f| {
                    let value = (f.key == "metadata.name").then_some(node.name.as_str());
                    requirement(f, value)
                })
        })
    });
    selector_ok && affinity_ok
}

fn requirement(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b.as_str())),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether one of `tolerations` tolerates `taint`.
pub fn tolerated(taint: &Taint, tolerations: &[Toleration]) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key);
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => {
                t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
            }
        };
        // An empty key with Exists tolerates everything.
        effect_ok
            && key_ok
            && value_ok
            && (t.key.is_some() || t.operator.as_deref() == Some("Exists"))
    })
}

/// The tolerations Kubernetes' DaemonSet controller adds to its pods.
pub fn daemon_tolerations() -> Vec<Toleration> {
    [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        (UNSCHEDULABLE_TAINT, "NoSchedule"),
    ]
    .into_iter()
    .map(|(key, effect)| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut v = v;
        v["containers"] = json!([{"name": "c", "image": "i"}]);
        serde_json::from_value(v).unwrap()
    }

    fn node(unschedulable: bool) -> NodeView {
        NodeView {
            name: "uk".into(),
            labels: node_labels("uk"),
            unschedulable,
            taints: if unschedulable {
                vec![Taint {
                    key: UNSCHEDULABLE_TAINT.into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn a_cordoned_node_takes_only_pods_tolerating_it() {
        let plain = spec(json!({}));
        assert!(fits(&plain, &node(false)).is_ok());
        let err = fits(&plain, &node(true)).unwrap_err();
        assert!(
            err.starts_with("0/1 nodes are available: 1 node(s) were unschedulable."),
            "{err}"
        );
        let daemon = PodSpec {
            tolerations: Some(daemon_tolerations()),
            ..plain
        };
        assert!(fits(&daemon, &node(true)).is_ok());
    }

    #[test]
    fn node_selector_and_affinity_match_the_well_known_labels() {
        let os = spec(json!({"nodeSelector": {"kubernetes.io/os": "linux"}}));
        assert!(fits(&os, &node(false)).is_ok());
        let gpu = spec(json!({"nodeSelector": {"gpu": "true"}}));
        let err = fits(&gpu, &node(false)).unwrap_err();
        assert!(
            err.contains("didn't match Pod's node affinity/selector"),
            "{err}"
        );
        let affinity = |op: &str, values: serde_json::Value| {
            spec(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": op, "values": values}]}]}}}}),
            )
        };
        assert!(fits(&affinity("In", json!(["uk", "us"])), &node(false)).is_ok());
        assert!(fits(&affinity("NotIn", json!(["uk"])), &node(false)).is_err());
        assert!(fits(&affinity("Exists", json!([])), &node(false)).is_ok());
        let by_name = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["other"]}]}]}}}}),
        );
        assert!(fits(&by_name, &node(false)).is_err());
    }

    #[test]
    fn tolerations_follow_operator_and_effect() {
        let taint = Taint {
            key: "dedicated".into(),
            value: Some("db".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let t = |v: serde_json::Value| -> Vec<Toleration> { serde_json::from_value(v).unwrap() };
        assert!(tolerated(
            &taint,
            &t(json!([{"key": "dedicated", "operator": "Equal", "value": "db"}]))
        ));
        assert!(!tolerated(
            &taint,
            &t(json!([{"key": "dedicated", "value": "web"}]))
        ));
        assert!(tolerated(&taint, &t(json!([{"operator": "Exists"}]))));
        assert!(!tolerated(
            &taint,
            &t(json!([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]))
        ));
    }
}
