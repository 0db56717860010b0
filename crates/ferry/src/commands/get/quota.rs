//! `get resourcequota` and `get limitrange` as kubectl prints them: a
//! quota's NAME, AGE, REQUEST and LIMIT (`used/hard` per resource, the
//! `limits.*` ones under LIMIT); a LimitRange's NAME and CREATED AT.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (`resourcequotas`/`limitranges`), or `None` for other kinds.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    match kind {
        "resourcequotas" => Some((
            vec!["NAME", "AGE", "REQUEST", "LIMIT"],
            items
                .iter()
                .map(|q| {
                    let (request, limit) = columns(q);
                    vec![name(s(q, "/metadata/name")), age(q), request, limit]
                })
                .collect(),
        )),
        "limitranges" => Some((
            vec!["NAME", "CREATED AT"],
            items
                .iter()
                .map(|l| {
                    vec![
                        name(s(l, "/metadata/name")),
                        s(l, "/metadata/creationTimestamp"),
                    ]
                })
                .collect(),
        )),
        _ => None,
    }
}

/// `resource: used/hard, ...` for the request and the `limits.*` resources.
fn columns(q: &Value) -> (String, String) {
    let hard = q.pointer("/status/hard").and_then(Value::as_object);
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for (resource, h) in hard.into_iter().flatten() {
        let used = q
            .pointer(&format!("/status/used/{}", resource.replace('/', "~1")))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let cell = format!("{resource}: {used}/{}", h.as_str().unwrap_or_default());
        if resource.starts_with("limits.") {
            limit.push(cell);
        } else {
            request.push(cell);
        }
    }
    (request.join(", "), limit.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quota_columns_as_kubectl_prints_them() {
        let q = json!({"metadata": {"name": "mem-cpu-demo"}, "status": {
            "hard": {"limits.cpu": "2", "limits.memory": "2Gi", "requests.cpu": "1", "requests.memory": "1Gi"},
            "used": {"limits.cpu": "800m", "limits.memory": "800Mi", "requests.cpu": "400m", "requests.memory": "600Mi"}}});
        let (headers, rows) = table("resourcequotas", &[q], &|n| n).unwrap();
        assert_eq!(headers, ["NAME", "AGE", "REQUEST", "LIMIT"]);
        assert_eq!(rows[0][0], "mem-cpu-demo");
        assert_eq!(
            rows[0][2],
            "requests.cpu: 400m/1, requests.memory: 600Mi/1Gi"
        );
        assert_eq!(rows[0][3], "limits.cpu: 800m/2, limits.memory: 800Mi/2Gi");
    }
}
