//! `ferry get services|configmaps|secrets`: kubectl's columns for the
//! core/v1 kinds other than pods.

use serde_json::Value;

use super::{Table, age, n, s};

/// The table for services, configmaps or secrets; `None` for other kinds.
pub fn table(
    kind: &str,
    items: &[Value],
    _wide: bool,
    prefix: &dyn Fn(String) -> String,
) -> Option<Table> {
    match kind {
        "services" | "svc" | "service" => Some((
            vec![
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            items
                .iter()
                .map(|v| {
                    let ty = v
                        .pointer("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP")
                        .to_string();
                    let ports: Vec<String> = v
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| match p.get("nodePort").and_then(Value::as_i64) {
                            Some(np) => format!("{}:{np}/TCP", n(p, "/port")),
                            None => format!("{}/TCP", n(p, "/port")),
                        })
                        .collect();
                    let external = if ty == "LoadBalancer" {
                        "127.0.0.1".to_string()
                    } else {
                        "<none>".into()
                    };
                    vec![
                        prefix(s(v, "/metadata/name")),
                        ty,
                        s(v, "/spec/clusterIP"),
                        external,
                        ports.join(","),
                        age(v),
                    ]
                })
                .collect(),
        )),
        "configmaps" | "cm" | "configmap" => Some((
            vec!["NAME", "DATA", "AGE"],
            items
                .iter()
                .map(|c| {
                    vec![
                        prefix(s(c, "/metadata/name")),
                        c.get("data")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len())
                            .to_string(),
                        age(c),
                    ]
                })
                .collect(),
        )),
        "secrets" | "secret" => Some((
            vec!["NAME", "TYPE", "DATA", "AGE"],
            items
                .iter()
                .map(|c| {
                    let count = c
                        .get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                        + c.get("stringData")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len());
                    let ty = c
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("Opaque")
                        .to_string();
                    vec![
                        prefix(s(c, "/metadata/name")),
                        ty,
                        count.to_string(),
                        age(c),
                    ]
                })
                .collect(),
        )),
        _ => None,
    }
}
