//! `get networkpolicies` as kubectl prints them: NAME, POD-SELECTOR (in
//! `metav1.FormatLabelSelector`'s form, `<none>` when empty) and AGE.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (`networkpolicies`), or `None` for other kinds.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    if !matches!(kind, "networkpolicies" | "networkpolicy" | "netpol") {
        return None;
    }
    let rows = items
        .iter()
        .map(|p| {
            let sel = p.pointer("/spec/podSelector").unwrap_or(&Value::Null);
            vec![name(s(p, "/metadata/name")), format_selector(sel), age(p)]
        })
        .collect();
    Some((vec!["NAME", "POD-SELECTOR", "AGE"], rows))
}

/// `app=web,tier in (a,b),!legacy`; `<none>` for the empty selector.
fn format_selector(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_selectors_print_as_kubectl_prints_them() {
        assert_eq!(format_selector(&json!({})), "<none>");
        let sel = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        });
        assert_eq!(format_selector(&sel), "app=web,tier in (a,b),!legacy");
        let items = [json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}})];
        let (headers, rows) = table("netpol", &items, &|n| n).unwrap();
        assert_eq!(headers, ["NAME", "POD-SELECTOR", "AGE"]);
        assert_eq!(rows[0][..2], ["deny".to_string(), "<none>".to_string()]);
    }
}
