//! `get statefulsets` as kubectl prints it: NAME, READY (ready of wanted
//! replicas) and AGE; `-o wide` adds CONTAINERS and IMAGES.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (`statefulsets`), or `None` for other kinds.
pub fn table(
    kind: &str,
    items: &[Value],
    wide: bool,
    name: &dyn Fn(String) -> String,
) -> Option<Table> {
    if !matches!(kind, "statefulsets" | "statefulset" | "sts") {
        return None;
    }
    let mut headers = vec!["NAME", "READY", "AGE"];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES"]);
    }
    let rows = items
        .iter()
        .map(|o| {
            let n = |p: &str, d: i64| o.pointer(p).and_then(Value::as_i64).unwrap_or(d);
            let mut row = vec![
                name(s(o, "/metadata/name")),
                format!(
                    "{}/{}",
                    n("/status/readyReplicas", 0),
                    n("/spec/replicas", 1)
                ),
                age(o),
            ];
            if wide {
                let cs = o
                    .pointer("/spec/template/spec/containers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let join = |f: &str| {
                    cs.iter()
                        .filter_map(|c| c[f].as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                row.extend([join("name"), join("image")]);
            }
            row
        })
        .collect();
    Some((headers, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_is_ready_of_wanted_replicas() {
        let sts = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}},
            "status": {"readyReplicas": 2}});
        let (h, rows) = table("statefulsets", &[sts], true, &|n| n).unwrap();
        assert_eq!(h, ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]);
        assert_eq!(rows[0][..2], ["web".to_string(), "2/3".to_string()]);
        assert_eq!(rows[0][3..], ["nginx".to_string(), "nginx:1".to_string()]);
        assert!(table("pods", &[], false, &|n| n).is_none());
    }
}
