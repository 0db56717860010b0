//! `get ksvc` and `get rev` as kubectl prints Knative Serving's kinds:
//! Services with NAME, URL, LATESTCREATED, LATESTREADY, READY, REASON and
//! Revisions with NAME, CONFIG NAME, GENERATION, READY, REASON, ACTUAL
//! REPLICAS, DESIRED REPLICAS.

use serde_json::Value;

use super::s;

type Table = (Vec<&'static str>, Vec<Vec<String>>);

const SERVICES: &[&str] = &["ksvc", "kservice", "services.serving.knative.dev"];
const REVISIONS: &[&str] = &[
    "rev",
    "revision",
    "revisions",
    "revisions.serving.knative.dev",
];

/// The table of a Knative kind as typed, or `None` for others.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    let kind = kind.to_ascii_lowercase();
    if SERVICES.contains(&kind.as_str()) {
        let headers = vec![
            "NAME",
            "URL",
            "LATESTCREATED",
            "LATESTREADY",
            "READY",
            "REASON",
        ];
        let rows = items
            .iter()
            .map(|v| {
                let (ready, reason) = condition(v, "Ready");
                vec![
                    name(s(v, "/metadata/name")),
                    s(v, "/status/url"),
                    s(v, "/status/latestCreatedRevisionName"),
                    s(v, "/status/latestReadyRevisionName"),
                    ready,
                    reason,
                ]
            })
            .collect();
        return Some((headers, rows));
    }
    if REVISIONS.contains(&kind.as_str()) {
        let headers = vec![
            "NAME",
            "CONFIG NAME",
            "GENERATION",
            "READY",
            "REASON",
            "ACTUAL REPLICAS",
            "DESIRED REPLICAS",
        ];
        let rows = items
            .iter()
            .map(|v| {
                let (ready, reason) = condition(v, "Ready");
                let (_, active) = condition(v, "Active");
                vec![
                    name(s(v, "/metadata/name")),
                    s(v, "/metadata/labels/serving.knative.dev~1configuration"),
                    s(
                        v,
                        "/metadata/labels/serving.knative.dev~1configurationGeneration",
                    ),
                    ready,
                    if reason.is_empty() { active } else { reason },
                    count(v, "/status/actualReplicas"),
                    count(v, "/status/desiredReplicas"),
                ]
            })
            .collect();
        return Some((headers, rows));
    }
    None
}

/// A condition's status and reason.
fn condition(v: &Value, type_: &str) -> (String, String) {
    let c = v
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    match c {
        Some(c) => (s(c, "/status"), s(c, "/reason")),
        None => ("Unknown".into(), String::new()),
    }
}

fn count(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_u64)
        .map_or(String::new(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_show_url_revisions_and_readiness() {
        let v = json!({"metadata": {"name": "hello"}, "status": {
            "url": "http://hello.default.example.com",
            "latestCreatedRevisionName": "hello-00002", "latestReadyRevisionName": "hello-00001",
            "conditions": [{"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"}]}});
        let (h, rows) = table("ksvc", &[v], &|n| n).unwrap();
        assert_eq!(h[1], "URL");
        assert_eq!(
            rows[0],
            [
                "hello",
                "http://hello.default.example.com",
                "hello-00002",
                "hello-00001",
                "Unknown",
                "RevisionMissing"
            ]
        );
        assert!(table("services", &[], &|n| n).is_none());
    }
}
