//! Validation of a StatefulSet as the API server does it: a selector that
//! matches the template's labels, a pod template with `restartPolicy:
//! Always` whose volume mounts may name the claim templates, the management
//! policy, update strategy, ordinals and claim retention policy values
//! Kubernetes knows; and, at re-apply, Kubernetes' refusal of changes to
//! fields other than the ones a StatefulSet lets change.

use std::collections::BTreeSet;

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Volume};
use serde_json::Value;

use crate::validate::{self, selects};

type Found = Vec<Problem>;

fn unsupported(doc: &Document, path: &str, got: &str, allowed: &[&str]) -> Problem {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    doc.problem(
        path,
        format!(
            "Unsupported value: \"{got}\": supported values: {}",
            allowed.join(", ")
        ),
    )
}

/// A StatefulSet's spec.
pub fn statefulset(doc: &Document, s: &StatefulSet, out: &mut Found) {
    let Some(spec) = &s.spec else {
        out.push(doc.problem("spec", "a StatefulSet needs a spec"));
        return;
    };
    for (field, v) in [
        ("replicas", spec.replicas),
        ("minReadySeconds", spec.min_ready_seconds),
        ("revisionHistoryLimit", spec.revision_history_limit),
        (
            "ordinals.start",
            spec.ordinals.as_ref().and_then(|o| o.start),
        ),
    ] {
        if v.is_some_and(|n| n < 0) {
            out.push(doc.problem(
                &format!("spec.{field}"),
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(p) = spec.pod_management_policy.as_deref()
        && !matches!(p, "OrderedReady" | "Parallel")
    {
        out.push(unsupported(
            doc,
            "spec.podManagementPolicy",
            p,
            &["OrderedReady", "Parallel"],
        ));
    }
    if let Some(u) = &spec.update_strategy {
        let ty = u.type_.as_deref().unwrap_or("RollingUpdate");
        if !matches!(ty, "RollingUpdate" | "OnDelete") {
            out.push(unsupported(
                doc,
                "spec.updateStrategy.type",
                ty,
                &["OnDelete", "RollingUpdate"],
            ));
        }
        if let Some(ru) = &u.rolling_update {
            if ty != "RollingUpdate" {
                out.push(doc.problem(
                    "spec.updateStrategy.rollingUpdate",
                    "Invalid value: only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
            if ru.partition.is_some_and(|p| p < 0) {
                out.push(doc.problem(
                    "spec.updateStrategy.rollingUpdate.partition",
                    "must be greater than or equal to 0",
                ));
            }
            if ru.max_unavailable.is_some() {
                out.push(doc.problem(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    "ferry updates one pod at a time (maxUnavailable is an alpha feature of Kubernetes); leave it out",
                ));
            }
        }
    }
    if let Some(p) = &spec.persistent_volume_claim_retention_policy {
        for (field, v) in [
            ("whenDeleted", &p.when_deleted),
            ("whenScaled", &p.when_scaled),
        ] {
            if let Some(v) = v.as_deref()
                && !matches!(v, "Retain" | "Delete")
            {
                let at = format!("spec.persistentVolumeClaimRetentionPolicy.{field}");
                out.push(unsupported(doc, &at, v, &["Retain", "Delete"]));
            }
        }
    }
    selector(doc, s, out);
    template(doc, s, out);
}

fn selector(doc: &Document, s: &StatefulSet, out: &mut Found) {
    let Some(spec) = &s.spec else { return };
    let sel = spec.selector.match_labels.clone().unwrap_or_default();
    let exprs = spec.selector.match_expressions.as_ref();
    if sel.is_empty() && exprs.is_none_or(Vec::is_empty) {
        out.push(doc.problem(
            "spec.selector",
            "Required value: a selector is required (spec.selector.matchLabels)",
        ));
        return;
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !selects(&sel, &labels) {
        out.push(doc.problem(
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        ));
    }
}

fn template(doc: &Document, s: &StatefulSet, out: &mut Found) {
    let Some(spec) = &s.spec else { return };
    let claims = spec.volume_claim_templates.as_deref().unwrap_or_default();
    let mut names = BTreeSet::new();
    for (i, c) in claims.iter().enumerate() {
        let at = format!("spec.volumeClaimTemplates[{i}].metadata.name");
        match c.metadata.name.as_deref() {
            None | Some("") => out.push(doc.problem(&at, "Required value: name is required")),
            Some(n) if !names.insert(n.to_string()) => {
                out.push(doc.problem(&at, format!("Duplicate value: \"{n}\"")))
            }
            Some(n) => validate::name(doc, Some(n), true, out),
        }
    }
    let Some(pod) = &spec.template.spec else {
        out.push(doc.problem("spec.template.spec", "a pod template needs a spec"));
        return;
    };
    // Mounts may name a claim template: its claim becomes the pod's volume.
    let mut pod = pod.clone();
    let volumes = pod.volumes.get_or_insert_with(Vec::new);
    volumes.retain(|v| !names.contains(&v.name));
    volumes.extend(names.iter().map(|n| Volume {
        name: n.clone(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }));
    validate::pod_spec(doc, "spec.template.spec", &pod, out);
    if pod.restart_policy.as_deref().is_some_and(|p| p != "Always") {
        out.push(unsupported(
            doc,
            "spec.template.spec.restartPolicy",
            pod.restart_policy.as_deref().unwrap_or_default(),
            &["Always"],
        ));
    }
}

/// The fields of a StatefulSet's spec that may change after creation.
const MUTABLE: [&str; 6] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Kubernetes' refusal of a re-applied StatefulSet whose spec changes other
/// fields than [`MUTABLE`]: `Some(message)` for path `spec`.
pub fn forbidden_update(old: &Value, new: &Value) -> Option<String> {
    let strip = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(m) = spec.as_object_mut() {
            for f in MUTABLE {
                m.remove(f);
            }
        }
        spec
    };
    (strip(old) != strip(new)).then(|| {
        "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', \
         'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and \
         'minReadySeconds' are forbidden"
            .to_string()
    })
}

#[cfg(test)]
#[path = "validate_statefulset_tests.rs"]
mod tests;
