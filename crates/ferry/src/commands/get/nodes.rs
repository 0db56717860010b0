//! `get nodes`, `get daemonsets` and `get poddisruptionbudgets` as kubectl
//! prints them: a Node's STATUS (`Ready,SchedulingDisabled` once
//! cordoned), ROLES, AGE and VERSION; a DaemonSet's DESIRED, CURRENT,
//! READY, UP-TO-DATE, AVAILABLE and NODE SELECTOR; a budget's MIN
//! AVAILABLE, MAX UNAVAILABLE and ALLOWED DISRUPTIONS.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind`, or `None` for other kinds.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    let rows = |f: &dyn Fn(&Value) -> Vec<String>| {
        items
            .iter()
            .map(|o| {
                let mut row = vec![name(s(o, "/metadata/name"))];
                row.extend(f(o));
                row.push(age(o));
                row
            })
            .collect()
    };
    match kind {
        "nodes" => Some((
            vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            items
                .iter()
                .map(|n| {
                    vec![
                        name(s(n, "/metadata/name")),
                        node_status(n),
                        roles(n),
                        age(n),
                        s(n, "/status/nodeInfo/kubeletVersion"),
                    ]
                })
                .collect(),
        )),
        "daemonsets" => Some((
            vec![
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE",
            ],
            rows(&|d| {
                let n = |f: &str| num(d, &format!("/status/{f}"));
                vec![
                    n("desiredNumberScheduled"),
                    n("currentNumberScheduled"),
                    n("numberReady"),
                    n("updatedNumberScheduled"),
                    n("numberAvailable"),
                    selector(d),
                ]
            }),
        )),
        "poddisruptionbudgets" => Some((
            vec![
                "NAME",
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE",
            ],
            rows(&|p| {
                vec![
                    int_or_string(p.pointer("/spec/minAvailable")),
                    int_or_string(p.pointer("/spec/maxUnavailable")),
                    num(p, "/status/disruptionsAllowed"),
                ]
            }),
        )),
        _ => None,
    }
}

fn num(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .to_string()
}

fn int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".into(),
    }
}

/// `Ready`, `NotReady`, with `,SchedulingDisabled` when cordoned.
fn node_status(n: &Value) -> String {
    let ready = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    let mut out = if ready { "Ready" } else { "NotReady" }.to_string();
    if n.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        out.push_str(",SchedulingDisabled");
    }
    out
}

/// The `node-role.kubernetes.io/ROLE` labels, or `<none>`.
fn roles(n: &Value) -> String {
    let roles: Vec<&str> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

/// The pod template's nodeSelector as `k=v,...`, or `<none>`.
fn selector(d: &Value) -> String {
    let pairs: Vec<String> = d
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cordoned_node_shows_scheduling_disabled() {
        let n = json!({"metadata": {"name": "uk", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1"}}});
        let (h, rows) = table("nodes", &[n], &|s| s).unwrap();
        assert_eq!(h, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        assert_eq!(
            rows[0][..3],
            ["uk", "Ready,SchedulingDisabled", "control-plane"]
        );
        assert_eq!(rows[0][4], "v1");
    }

    #[test]
    fn budgets_show_n_a_for_the_unset_bound() {
        let p = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}});
        let (_, rows) = table("poddisruptionbudgets", &[p], &|s| s).unwrap();
        assert_eq!(rows[0][..4], ["web", "2", "N/A", "1"]);
    }
}
