//! `ferry describe ksvc/NAME` and `rev/NAME`: a Knative Service's URL,
//! latest revisions, traffic and conditions, and for each of its Revisions
//! the replicas and the last cold start with its phases (schedule, image,
//! rootfs, process, readiness), as the runtime keeps it in the Revision's
//! `status.lastColdStart`.

use serde_json::Value;

use crate::client::{Client, query_escape};

fn s(v: &Value, p: &str) -> String {
    v.pointer(p)
        .map(|x| match x {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// The Service's own part of the description, then its Revisions'.
pub fn service(client: &Client, obj: &Value) -> anyhow::Result<()> {
    println!("URL:          {}", s(obj, "/status/url"));
    println!(
        "Revisions:    latest created {}, latest ready {}",
        s(obj, "/status/latestCreatedRevisionName"),
        s(obj, "/status/latestReadyRevisionName")
    );
    println!("Traffic:");
    for t in obj
        .pointer("/status/traffic")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tag = t["tag"]
            .as_str()
            .map(|t| format!(" #{t}"))
            .unwrap_or_default();
        println!(
            "  {:>3}% {}{tag}",
            t["percent"].as_u64().unwrap_or(0),
            t["revisionName"].as_str().unwrap_or("")
        );
    }
    conditions(obj, 20, 8);
    let ns = s(obj, "/metadata/namespace");
    let sel = format!("serving.knative.dev/service={}", s(obj, "/metadata/name"));
    let list: Value = client.get(&format!(
        "/objects/revisions?namespace={}&labelSelector={}",
        query_escape(&ns),
        query_escape(&sel)
    ))?;
    let mut revs = list["items"].as_array().cloned().unwrap_or_default();
    revs.sort_by_key(|r| std::cmp::Reverse(s(r, "/metadata/name")));
    for r in &revs {
        println!("Revision {}:", s(r, "/metadata/name"));
        revision_body(r, "  ");
    }
    Ok(())
}

/// A Revision's part of the description.
pub fn revision(obj: &Value) {
    revision_body(obj, "");
    conditions(obj, 20, 8);
}

fn revision_body(r: &Value, indent: &str) {
    let image = s(r, "/spec/containers/0/image");
    println!("{indent}Image:          {image}");
    println!(
        "{indent}Replicas:       {} actual, {} desired",
        r.pointer("/status/actualReplicas")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        r.pointer("/status/desiredReplicas")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    );
    for line in cold_start_lines(r.pointer("/status/lastColdStart")) {
        println!("{indent}{line}");
    }
}

/// `Last Cold Start:` and one line per phase, or `<none>`.
pub fn cold_start_lines(c: Option<&Value>) -> Vec<String> {
    let Some(c) = c.filter(|c| c.is_object()) else {
        return vec!["Last Cold Start: <none>".into()];
    };
    let ms = |v: &Value| format!("{:>9.1} ms", v.as_f64().unwrap_or(0.0) * 1e3);
    let mut out = vec![format!(
        "Last Cold Start: {} total at {}",
        ms(&c["totalSeconds"]).trim(),
        c["time"].as_str().unwrap_or("?")
    )];
    for p in ferry_runtime::cold_start::PHASES {
        out.push(format!("  {p:<10} {}", ms(&c["phaseSeconds"][p])));
    }
    out
}

/// `Conditions:` and one line per `status.conditions` entry, in columns
/// `type_w` and `status_w` wide.
pub(crate) fn conditions(obj: &Value, type_w: usize, status_w: usize) {
    println!("Conditions:");
    for c in obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!(
            "  {:<type_w$} {:<status_w$} {}",
            c["type"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["reason"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_cold_start_is_shown_by_phase() {
        let c = json!({"time": "2026-01-01T00:00:00Z", "totalSeconds": 0.1234,
            "phaseSeconds": {"schedule": 0.01, "image": 0.0002, "rootfs": 0.02, "process": 0.05, "readiness": 0.0432}});
        let lines = cold_start_lines(Some(&c));
        assert_eq!(
            lines[0],
            "Last Cold Start: 123.4 ms total at 2026-01-01T00:00:00Z"
        );
        assert_eq!(lines[1], "  schedule        10.0 ms");
        assert_eq!(lines[2], "  image            0.2 ms");
        assert!(lines[5].starts_with("  readiness"));
        assert_eq!(cold_start_lines(None), ["Last Cold Start: <none>"]);
    }
}
