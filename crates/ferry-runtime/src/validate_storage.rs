//! Validation of the storage kinds at apply, as the API server does it:
//! a PersistentVolumeClaim needs access modes Kubernetes knows and a
//! `resources.requests.storage` quantity; a StorageClass a provisioner and
//! a known reclaim policy and binding mode; a pod's `persistentVolumeClaim`
//! volume a claim name. PersistentVolumes are made by ferry's provisioner
//! only: a manifest's PersistentVolume is refused, one giving a `hostPath`
//! or `local` path by name (no path from a manifest reaches the host).

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PodSpec};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::kinds::{Kind, decode_strict};
use crate::validate;

type Found = Vec<Problem>;

/// The access modes Kubernetes knows.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// Checks a document of a storage kind (`false`: not one).
pub fn check(doc: &Document, kind: Kind, out: &mut Found) -> bool {
    match kind {
        Kind::PersistentVolumeClaim => match decode_strict::<PersistentVolumeClaim>(doc) {
            Ok(c) => claim(doc, &c, out),
            Err(p) => out.push(p),
        },
        Kind::StorageClass => match decode_strict::<StorageClass>(doc) {
            Ok(sc) => class(doc, &sc, out),
            Err(p) => out.push(p),
        },
        Kind::PersistentVolume => match decode_strict::<PersistentVolume>(doc) {
            Ok(pv) => volume(doc, &pv, out),
            Err(p) => out.push(p),
        },
        _ => return false,
    }
    true
}

fn claim(doc: &Document, c: &PersistentVolumeClaim, out: &mut Found) {
    let Some(spec) = &c.spec else {
        out.push(doc.problem("spec", "a PersistentVolumeClaim needs a spec"));
        return;
    };
    access_modes(doc, "spec.accessModes", spec.access_modes.as_deref(), out);
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    match storage {
        None => out.push(doc.problem(
            "spec.resources.requests.storage",
            "Required value: a claim requests its size (`storage: 1Gi`)",
        )),
        Some(q) if validate::parse_quantity(&q.0).is_none_or(|v| v <= 0.0) => {
            out.push(doc.problem(
                "spec.resources.requests.storage",
                format!("`{}` is not a positive quantity", q.0),
            ))
        }
        Some(_) => {}
    }
    if let Some(m) = spec.volume_mode.as_deref()
        && m != "Filesystem"
    {
        out.push(doc.problem(
            "spec.volumeMode",
            format!("`{m}` is not supported: ferry's volumes are directories (Filesystem)"),
        ));
    }
    for (field, set) in [
        ("dataSource", spec.data_source.is_some()),
        ("dataSourceRef", spec.data_source_ref.is_some()),
        ("selector", spec.selector.is_some()),
    ] {
        if set {
            out.push(doc.problem(
                &format!("spec.{field}"),
                "not supported: ferry provisions every claim as a new, empty directory",
            ));
        }
    }
}

fn access_modes(doc: &Document, path: &str, modes: Option<&[String]>, out: &mut Found) {
    let modes = modes.unwrap_or_default();
    if modes.is_empty() {
        out.push(doc.problem(path, "Required value: at least 1 access mode is required"));
    }
    for (i, m) in modes.iter().enumerate() {
        if !ACCESS_MODES.contains(&m.as_str()) {
            out.push(doc.problem(
                &format!("{path}[{i}]"),
                format!(
                    "Unsupported value: \"{m}\": supported values: {}",
                    ACCESS_MODES.join(", ")
                ),
            ));
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        out.push(doc.problem(path, "may not use ReadWriteOncePod with other access modes"));
    }
}

fn class(doc: &Document, sc: &StorageClass, out: &mut Found) {
    if sc.provisioner.is_empty() {
        out.push(doc.problem("provisioner", "Required value"));
    }
    if let Some(p) = sc.reclaim_policy.as_deref()
        && !matches!(p, "Delete" | "Retain")
    {
        out.push(doc.problem(
            "reclaimPolicy",
            format!("Unsupported value: \"{p}\": supported values: \"Delete\", \"Retain\""),
        ));
    }
    if let Some(m) = sc.volume_binding_mode.as_deref()
        && !matches!(m, "Immediate" | "WaitForFirstConsumer")
    {
        out.push(doc.problem(
            "volumeBindingMode",
            format!(
                "Unsupported value: \"{m}\": supported values: \"Immediate\", \"WaitForFirstConsumer\""
            ),
        ));
    }
}

fn volume(doc: &Document, pv: &PersistentVolume, out: &mut Found) {
    let spec = pv.spec.as_ref();
    for (field, set) in [
        ("hostPath", spec.is_some_and(|s| s.host_path.is_some())),
        ("local", spec.is_some_and(|s| s.local.is_some())),
    ] {
        if set {
            out.push(doc.problem(
                &format!("spec.{field}"),
                "a PersistentVolume may not name a path on the host: ferry's provisioner makes \
                 every volume under its own data directory; apply a PersistentVolumeClaim instead",
            ));
            return;
        }
    }
    out.push(doc.problem(
        "spec",
        "PersistentVolumes are created by ferry's provisioner (storage class `local-path`), \
         not applied; apply a PersistentVolumeClaim instead",
    ));
}

/// `volumes[].persistentVolumeClaim` of a pod spec at `base`: a claim name.
pub fn pod_claims(doc: &Document, base: &str, spec: &PodSpec, out: &mut Found) {
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let Some(c) = &v.persistent_volume_claim else {
            continue;
        };
        let path = format!("{base}.volumes[{i}].persistentVolumeClaim.claimName");
        if c.claim_name.is_empty() {
            out.push(doc.problem(&path, "Required value"));
        } else if !validate::dns_name(&c.claim_name, false) {
            out.push(doc.problem(
                &path,
                format!("`{}` is not a valid claim name", c.claim_name),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let doc = ferry_core::yaml::parse_documents("s.yaml", text)
            .unwrap()
            .remove(0);
        let kind = Kind::from_cli(doc.kind().unwrap()).unwrap();
        let mut out = Vec::new();
        assert!(check(&doc, kind, &mut out));
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_claim_needs_modes_and_size() {
        let ok = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
        assert!(problems(ok).is_empty());
        let bad = problems(&ok.replace("ReadWriteOnce", "ReadWriteSometimes"));
        assert!(bad[0].contains("spec.accessModes[0]"), "{bad:?}");
        let bad = problems(&ok.replace("storage: 1Gi", "storage: lots"));
        assert!(
            bad[0].contains("spec.resources.requests.storage"),
            "{bad:?}"
        );
        let bad = problems(&ok.replace("[ReadWriteOnce]", "[ReadWriteOncePod, ReadWriteOnce]"));
        assert!(bad[0].contains("ReadWriteOncePod"), "{bad:?}");
    }

    #[test]
    fn a_volume_with_a_host_path_is_refused_naming_the_field() {
        let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: mine}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /etc}\n";
        let bad = problems(pv);
        assert_eq!(bad.len(), 1);
        assert!(
            bad[0].contains("field `spec.hostPath`") && bad[0].contains("path on the host"),
            "{bad:?}"
        );
        let local = pv.replace("hostPath: {path: /etc}", "local: {path: /srv}");
        assert!(problems(&local)[0].contains("field `spec.local`"));
    }

    #[test]
    fn a_class_names_known_policies() {
        let sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: rancher.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: Immediate\n";
        assert!(problems(sc).is_empty());
        let bad = problems(&sc.replace("Retain", "Recycle"));
        assert!(bad[0].contains("reclaimPolicy"), "{bad:?}");
    }
}
