//! `ferry get pods|deployments|replicasets`: the workload tables, with
//! kubectl's columns (`-o wide` adds IP and NODE to pods, CONTAINERS and
//! IMAGES to deployments), and the pod STATUS column `describe` shares.

use serde_json::Value;

use super::{Table, age, n, s};

/// The table for pods, deployments or replicasets; `None` for other kinds.
pub fn table(
    kind: &str,
    items: &[Value],
    wide: bool,
    prefix: &dyn Fn(String) -> String,
) -> Option<Table> {
    match kind {
        "pods" | "pod" | "po" => Some((
            if wide {
                vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
            } else {
                vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
            },
            items
                .iter()
                .map(|p| {
                    let cs = p
                        .pointer("/status/containerStatuses")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let total = p
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let ready = cs.iter().filter(|c| c["ready"] == true).count();
                    let restarts: i64 = cs
                        .iter()
                        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                        .sum();
                    let mut row = vec![
                        prefix(s(p, "/metadata/name")),
                        format!("{ready}/{total}"),
                        pod_status(p),
                        restarts.to_string(),
                        age(p),
                    ];
                    if wide {
                        let node = s(p, "/spec/nodeName");
                        let node = if node.is_empty() {
                            "<none>".into()
                        } else {
                            node
                        };
                        row.extend([s(p, "/status/podIP"), node]);
                    }
                    row
                })
                .collect(),
        )),
        "deployments" | "deploy" | "deployment" => Some((
            if wide {
                vec![
                    "NAME",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "AGE",
                    "CONTAINERS",
                    "IMAGES",
                ]
            } else {
                vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
            },
            items
                .iter()
                .map(|d| {
                    let want = d
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let mut row = vec![
                        prefix(s(d, "/metadata/name")),
                        format!("{}/{want}", n(d, "/status/readyReplicas")),
                        n(d, "/status/updatedReplicas").to_string(),
                        n(d, "/status/availableReplicas").to_string(),
                        age(d),
                    ];
                    if wide {
                        let cs = d
                            .pointer("/spec/template/spec/containers")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        row.push(
                            cs.iter()
                                .map(|c| s(c, "/name"))
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                        row.push(
                            cs.iter()
                                .map(|c| s(c, "/image"))
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                    row
                })
                .collect(),
        )),
        "replicasets" | "rs" | "replicaset" => Some((
            vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            items
                .iter()
                .map(|r| {
                    vec![
                        prefix(s(r, "/metadata/name")),
                        n(r, "/spec/replicas").to_string(),
                        n(r, "/status/replicas").to_string(),
                        n(r, "/status/readyReplicas").to_string(),
                        age(r),
                    ]
                })
                .collect(),
        )),
        _ => None,
    }
}

/// A pod's STATUS column, as kubectl computes it.
pub fn pod_status(p: &Value) -> String {
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = p
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return format!("Init:{r}");
        }
        if c.pointer("/state/running").is_some() {
            return format!("Init:0/{}", statuses.len());
        }
    }
    for c in p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = c
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            return r.to_string();
        }
        if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            return r.to_string();
        }
    }
    s(p, "/status/phase")
}
