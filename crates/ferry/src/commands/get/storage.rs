//! `get pvc`, `get pv` and `get storageclass` as kubectl prints them: a
//! claim's STATUS, VOLUME, CAPACITY, ACCESS MODES and STORAGECLASS; a
//! volume's CAPACITY, ACCESS MODES, RECLAIM POLICY, STATUS, CLAIM,
//! STORAGECLASS and REASON; a class's PROVISIONER, RECLAIMPOLICY,
//! VOLUMEBINDINGMODE and ALLOWVOLUMEEXPANSION (the default one marked).

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (the list route's plural), or `None` for other kinds.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    let rows = |f: &dyn Fn(&Value) -> Vec<String>| items.iter().map(f).collect();
    match kind {
        "persistentvolumeclaims" => Some((
            vec![
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "AGE",
            ],
            rows(&|c| {
                vec![
                    name(s(c, "/metadata/name")),
                    phase(c),
                    s(c, "/spec/volumeName"),
                    s(c, "/status/capacity/storage"),
                    modes(c.pointer("/status/accessModes")),
                    s(c, "/spec/storageClassName"),
                    age(c),
                ]
            }),
        )),
        "persistentvolumes" => Some((
            vec![
                "NAME",
                "CAPACITY",
                "ACCESS MODES",
                "RECLAIM POLICY",
                "STATUS",
                "CLAIM",
                "STORAGECLASS",
                "REASON",
                "AGE",
            ],
            rows(&|v| {
                let claim = match s(v, "/spec/claimRef/name") {
                    n if n.is_empty() => String::new(),
                    n => format!("{}/{n}", s(v, "/spec/claimRef/namespace")),
                };
                vec![
                    name(s(v, "/metadata/name")),
                    s(v, "/spec/capacity/storage"),
                    modes(v.pointer("/spec/accessModes")),
                    s(v, "/spec/persistentVolumeReclaimPolicy"),
                    phase(v),
                    claim,
                    s(v, "/spec/storageClassName"),
                    s(v, "/status/reason"),
                    age(v),
                ]
            }),
        )),
        "storageclasses" => Some((
            vec![
                "NAME",
                "PROVISIONER",
                "RECLAIMPOLICY",
                "VOLUMEBINDINGMODE",
                "ALLOWVOLUMEEXPANSION",
                "AGE",
            ],
            rows(&|c| {
                let default = c
                    .pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class")
                    .and_then(Value::as_str)
                    == Some("true");
                let mut n = s(c, "/metadata/name");
                if default {
                    n.push_str(" (default)");
                }
                let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
                vec![
                    name(n),
                    s(c, "/provisioner"),
                    or(s(c, "/reclaimPolicy"), "Delete"),
                    or(s(c, "/volumeBindingMode"), "Immediate"),
                    (c.get("allowVolumeExpansion").and_then(Value::as_bool) == Some(true))
                        .to_string(),
                    age(c),
                ]
            }),
        )),
        _ => None,
    }
}

/// The phase, or Terminating once deletion started (as kubectl shows it).
fn phase(v: &Value) -> String {
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating".into()
    } else {
        s(v, "/status/phase")
    }
}

/// `RWO,RWX`: kubectl's short access modes.
fn modes(v: Option<&Value>) -> String {
    let short = |m: &str| match m {
        "ReadWriteOnce" => "RWO",
        "ReadOnlyMany" => "ROX",
        "ReadWriteMany" => "RWX",
        "ReadWriteOncePod" => "RWOP",
        _ => "",
    };
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(short)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bound_claim_prints_kubectls_columns() {
        let c = json!({"metadata": {"name": "data"},
            "spec": {"volumeName": "pvc-1", "storageClassName": "local-path"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let (headers, rows) = table("persistentvolumeclaims", &[c], &|n| n).unwrap();
        assert_eq!(headers[4], "ACCESS MODES");
        assert_eq!(
            rows[0][..6],
            ["data", "Bound", "pvc-1", "1Gi", "RWO", "local-path"]
        );
        let sc = json!({"metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        let (_, rows) = table("storageclasses", &[sc], &|n| n).unwrap();
        assert_eq!(
            rows[0][..5],
            [
                "local-path (default)",
                "rancher.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                "false"
            ]
        );
    }
}
