//! `get hpa` as kubectl prints it: NAME, REFERENCE (`Deployment/web`),
//! TARGETS (`cpu: 40%/50%`, `http_requests_per_second: 12/10`, the first two
//! metrics then `+ N more...`), MINPODS, MAXPODS, REPLICAS and AGE.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (`horizontalpodautoscalers`), or `None` for others.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    if kind != "horizontalpodautoscalers" {
        return None;
    }
    let rows = items
        .iter()
        .map(|h| {
            let min = h
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .map_or("<unset>".to_string(), |n| n.to_string());
            vec![
                name(s(h, "/metadata/name")),
                format!(
                    "{}/{}",
                    s(h, "/spec/scaleTargetRef/kind"),
                    s(h, "/spec/scaleTargetRef/name")
                ),
                targets(h),
                min,
                h.pointer("/spec/maxReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .to_string(),
                h.pointer("/status/currentReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .to_string(),
                age(h),
            ]
        })
        .collect();
    Some((
        vec![
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE",
        ],
        rows,
    ))
}

/// kubectl's `formatHPAMetrics`.
fn targets(h: &Value) -> String {
    let specs = h
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = h
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| one(spec, statuses.get(i)))
        .collect();
    if list.len() > 2 {
        format!("{} + {} more...", list[..2].join(", "), list.len() - 2)
    } else {
        list.join(", ")
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn one(spec: &Value, status: Option<&Value>) -> String {
    let unknown = || "<unknown>".to_string();
    let (field, name) = match spec["type"].as_str() {
        Some("Pods") => {
            let current = status
                .and_then(|s| text(s.pointer("/pods/current/averageValue")))
                .unwrap_or_else(unknown);
            let target = text(spec.pointer("/pods/target/averageValue")).unwrap_or_default();
            return format!("{current}/{target}");
        }
        Some("ContainerResource") => ("containerResource", "containerResource"),
        Some("Resource") => ("resource", "resource"),
        Some(other) => return format!("{other}: <unknown>"),
        None => return unknown(),
    };
    let r = &spec[field];
    let resource = r["name"].as_str().unwrap_or_default();
    let prefix = match field {
        "containerResource" => format!(
            "{resource} on {}",
            r["container"].as_str().unwrap_or_default()
        ),
        _ => resource.to_string(),
    };
    let cur = |p: &str| status.and_then(|s| text(s.pointer(&format!("/{name}/current/{p}"))));
    if let Some(target) = text(r.pointer("/target/averageValue")) {
        let current = cur("averageValue").unwrap_or_else(unknown);
        return format!("{prefix}: {current}/{target}");
    }
    let current = cur("averageUtilization").map_or_else(unknown, |u| format!("{u}%"));
    let target = r
        .pointer("/target/averageUtilization")
        .and_then(Value::as_i64)
        .map_or("<auto>".to_string(), |u| format!("{u}%"));
    format!("{prefix}: {current}/{target}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_print_as_kubectl_prints_them() {
        let h = json!({
            "spec": {"metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
            ]},
            "status": {"currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40, "averageValue": "40m"}}},
                {"type": ""},
            ]},
        });
        assert_eq!(targets(&h), "cpu: 40%/50%, <unknown>/10 + 1 more...");
        assert_eq!(targets(&json!({"spec": {}})), "<none>");
    }
}
