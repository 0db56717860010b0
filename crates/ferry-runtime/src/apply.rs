//! `apply`: turns manifest sources into a validated, all-or-nothing change
//! set. Every document is decoded strictly and checked; kinds owned by other
//! components are validated as a whole proposed set by their owner; only if
//! nothing is wrong is the set written, in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferry_core::objects::{GroupKind, KindOwner, StoredObject};
use ferry_core::yaml::{Document, parse_documents};
use ferry_core::{Problem, Problems};
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, Pod, PodSpec, ResourceQuota, Secret, Service,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::kinds::{Kind, decode_strict};
use crate::local_paths;
use crate::pss::{self, Level};
use crate::store::Key;
use crate::validate;

/// The annotation holding the hash of the last applied document.
pub const APPLIED_HASH: &str = "ferry.dev/applied-hash";

/// What happened to one object, as kubectl prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Outcome {
    /// `deployment.apps/web`.
    pub object: String,
    pub namespace: Option<String>,
    /// `created`, `configured` or `unchanged`.
    pub action: String,
}

/// A validated document ready to be stored.
#[derive(Debug, Clone)]
pub struct Planned {
    pub key: Key,
    pub kind: Option<Kind>,
    pub source: String,
    pub value: Value,
    pub hash: String,
}

/// Parses and validates every document of `sources` (`(file, text)`);
/// namespaced objects without `metadata.namespace` go into `default`.
pub fn plan(
    sources: &[(String, String)],
    owners: &[Arc<dyn KindOwner>],
    existing_namespaces: &BTreeMap<String, Level>,
) -> Result<Vec<Planned>, Problems> {
    plan_in(sources, None, owners, existing_namespaces)
}

/// [`plan`] with the namespace of `kubectl apply -n NS`: namespaced objects
/// without `metadata.namespace` go into `namespace`, and one naming another
/// namespace is a problem, as kubectl refuses it.
pub fn plan_in(
    sources: &[(String, String)],
    namespace: Option<&str>,
    owners: &[Arc<dyn KindOwner>],
    existing_namespaces: &BTreeMap<String, Level>,
) -> Result<Vec<Planned>, Problems> {
    let mut problems = Problems::default();
    let mut docs = Vec::new();
    for (file, text) in sources {
        match parse_documents(file, text) {
            Ok(d) => docs.extend(d),
            Err(p) => problems.push(p),
        }
    }
    let owned: BTreeSet<GroupKind> = owners.iter().flat_map(|o| o.kinds()).collect();
    let mut planned: Vec<(Planned, &Document)> = Vec::new();
    let mut seen = BTreeMap::new();
    for doc in &docs {
        match plan_one(doc, &owned, namespace) {
            Ok(p) => {
                if let Some(first) = seen.insert(p.key.clone(), p.source.clone()) {
                    problems.push(doc.problem(
                        "metadata.name",
                        format!("{} is also defined in {first}", p.key),
                    ));
                }
                planned.push((p, doc));
            }
            Err(found) => found.into_iter().for_each(|p| problems.push(p)),
        }
    }
    let mut levels = existing_namespaces.clone();
    for (p, doc) in planned
        .iter()
        .filter(|(p, _)| p.kind == Some(Kind::Namespace))
    {
        let labels: Option<BTreeMap<String, String>> = p
            .value
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok());
        match Level::of_labels(labels.as_ref()) {
            Ok(level) => {
                levels.insert(p.key.name.clone(), level);
            }
            Err(why) => {
                levels.insert(p.key.name.clone(), Level::Baseline);
                let path = format!("metadata.labels.{}", pss::ENFORCE_LABEL);
                problems.push(doc.problem(&path, why.to_string()));
            }
        }
    }
    for (p, doc) in &planned {
        let ns = p.key.namespace.as_str();
        match levels.get(ns) {
            _ if ns.is_empty() => {}
            None => problems.push(doc.problem(
                "metadata.namespace",
                format!(
                    "namespace `{ns}` does not exist; add a Namespace document or apply one first"
                ),
            )),
            Some(level) => pod_security(doc, p, *level, &mut problems),
        }
    }
    if problems.is_empty() {
        Ok(planned.into_iter().map(|(p, _)| p).collect())
    } else {
        Err(problems)
    }
}

/// The Pod Security Standards check of a Pod or a workload's pod template.
fn pod_security(doc: &Document, p: &Planned, level: Level, problems: &mut Problems) {
    let (pointer, base) = match p.kind {
        Some(Kind::Pod) => ("/spec", "spec"),
        Some(
            Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::StatefulSet | Kind::DaemonSet,
        ) => ("/spec/template/spec", "spec.template.spec"),
        Some(Kind::CronJob) => (
            "/spec/jobTemplate/spec/template/spec",
            "spec.jobTemplate.spec.template.spec",
        ),
        _ => return,
    };
    let Some(Ok(spec)) = p
        .value
        .pointer(pointer)
        .map(|v| serde_json::from_value::<PodSpec>(v.clone()))
    else {
        return;
    };
    let mut found = Vec::new();
    pss::check(doc, base, &spec, &p.key.namespace, level, &mut found);
    found.into_iter().for_each(|f| problems.push(f));
}

fn plan_one(
    doc: &Document,
    owned: &BTreeSet<GroupKind>,
    default_ns: Option<&str>,
) -> Result<Planned, Vec<Problem>> {
    let (Some(api_version), Some(kind_name)) = (doc.api_version(), doc.kind()) else {
        return Err(vec![
            doc.problem("", "every document needs apiVersion and kind"),
        ]);
    };
    let gk = GroupKind::of(api_version, kind_name);
    let kind = Kind::from_group_kind(&gk);
    let mut found = Vec::new();
    match kind {
        Some(k) => {
            if api_version != k.api_version() {
                found.push(doc.problem(
                    "apiVersion",
                    format!(
                        "{kind_name} is served as `{}`, not `{api_version}`",
                        k.api_version()
                    ),
                ));
                return Err(found);
            }
            check_builtin(doc, k, &mut found);
        }
        None if owned.contains(&gk) => validate::name(doc, doc.name(), false, &mut found),
        None => {
            let known: Vec<String> = crate::kinds::Kind::ALL
                .iter()
                .map(|k| k.name().to_string())
                .chain(owned.iter().map(|g| g.kind.clone()))
                .collect();
            let suggestion =
                ferry_core::error::nearest(kind_name, known.iter().map(String::as_str));
            found.push(
                doc.problem("kind", format!("unknown kind `{kind_name}` (apiVersion {api_version}): no part of ferry runs it"))
                    .with_suggestion(suggestion),
            );
        }
    }
    if !found.is_empty() {
        return Err(found);
    }
    let namespaced = kind.is_none_or(Kind::namespaced);
    let namespace = if namespaced {
        let given = doc
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        match (given, default_ns) {
            (Some(g), Some(d)) if g != d => {
                return Err(vec![doc.problem(
                    "metadata.namespace",
                    format!(
                        "the namespace from the provided object \"{g}\" does not match the namespace \"{d}\"; pass -n {g} or drop metadata.namespace"
                    ),
                )]);
            }
            (Some(g), _) => g.to_string(),
            (None, d) => d.unwrap_or("default").to_string(),
        }
    } else {
        String::new()
    };
    let name = doc.name().unwrap_or_default().to_string();
    let mut value = doc.value.clone();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
    }
    if namespaced {
        value["metadata"]["namespace"] = json!(namespace);
    }
    let hash = hex::encode(&Sha256::digest(value.to_string().as_bytes())[..8]);
    Ok(Planned {
        key: Key::new(gk, &namespace, &name),
        kind,
        source: format!("{} document {}", doc.file, doc.index),
        value,
        hash,
    })
}

fn check_builtin(doc: &Document, kind: Kind, found: &mut Vec<Problem>) {
    macro_rules! decode {
        ($t:ty) => {
            match decode_strict::<$t>(doc) {
                Ok(v) => v,
                Err(p) => {
                    found.push(p);
                    return;
                }
            }
        };
    }
    let label = matches!(kind, Kind::Service | Kind::Namespace);
    match kind {
        Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding => {
            crate::validate_rbac::path_segment_name(doc, doc.name(), found)
        }
        _ => validate::name(doc, doc.name(), label, found),
    }
    if crate::validate_rbac::check(doc, kind, found) {
        return;
    }
    if crate::validate_storage::check(doc, kind, found) {
        return;
    }
    match kind {
        Kind::Namespace => drop(decode!(Namespace)),
        Kind::ConfigMap => {
            let cm = decode!(ConfigMap);
            local_paths::keys(doc, "data", cm.data.iter().flat_map(|d| d.keys()), found);
            let binary = cm.binary_data.iter().flat_map(|d| d.keys());
            local_paths::keys(doc, "binaryData", binary, found);
        }
        Kind::Secret => {
            let s = decode!(Secret);
            local_paths::keys(doc, "data", s.data.iter().flat_map(|d| d.keys()), found);
            let string = s.string_data.iter().flat_map(|d| d.keys());
            local_paths::keys(doc, "stringData", string, found);
        }
        Kind::Service => validate::service(doc, &decode!(Service), found),
        Kind::NetworkPolicy => {
            let np = decode!(k8s_openapi::api::networking::v1::NetworkPolicy);
            crate::netpol_spec::check(doc, &np, found)
        }
        Kind::Deployment => validate::deployment(doc, &decode!(Deployment), found),
        Kind::ReplicaSet => {
            let rs = decode!(ReplicaSet);
            let spec = rs.spec.and_then(|s| s.template).and_then(|t| t.spec);
            if let Some(spec) = spec {
                validate::pod_spec(doc, "spec.template.spec", &spec, found);
            }
        }
        Kind::Job => {
            let job = decode!(Job);
            crate::validate_batch::job_spec(doc, "spec", job.spec.as_ref(), found);
        }
        Kind::CronJob => crate::validate_batch::cronjob(doc, &decode!(CronJob), found),
        Kind::StatefulSet => {
            crate::validate_statefulset::statefulset(doc, &decode!(StatefulSet), found)
        }
        Kind::ControllerRevision => drop(decode!(ControllerRevision)),
        Kind::LimitRange => crate::validate_quota::limit_range(doc, &decode!(LimitRange), found),
        Kind::ResourceQuota => {
            crate::validate_quota::resource_quota(doc, &decode!(ResourceQuota), found)
        }
        Kind::DaemonSet => crate::validate_daemonset::daemonset(doc, &decode!(k8s_openapi::api::apps::v1::DaemonSet), found),
        Kind::PodDisruptionBudget => {
            crate::validate_daemonset::pdb(doc, &decode!(k8s_openapi::api::policy::v1::PodDisruptionBudget), found)
        }
        Kind::Node => found.push(doc.problem(
            "kind",
            "the node is the region's own (`ferry get nodes`); mark it unschedulable with `ferry cordon`",
        )),
        Kind::HorizontalPodAutoscaler => {
            use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler as Hpa;
            crate::validate_hpa::check(doc, &decode!(Hpa), found)
        }
        Kind::KnativeService => crate::validate_knative::service(doc, &decode!(crate::knative_spec::KService), found),
        Kind::Revision => found.push(doc.problem("kind", "Revisions are made by their Service's controller: apply a serving.knative.dev/v1 Service")),
        Kind::Pod => {
            let pod = decode!(Pod);
            match &pod.spec {
                Some(spec) => validate::pod_spec(doc, "spec", spec, found),
                None => found.push(doc.problem("spec", "a Pod needs a spec")),
            }
        }
        // validate_rbac::check and validate_storage::check took them.
        Kind::StorageClass | Kind::PersistentVolume | Kind::PersistentVolumeClaim => {}
        Kind::ServiceAccount
        | Kind::Role
        | Kind::RoleBinding
        | Kind::ClusterRole
        | Kind::ClusterRoleBinding => {}
    }
}

/// Merges a planned document with the stored object it replaces: keeps uid,
/// creation time, status and server-assigned fields; bumps generation when
/// the spec changed. Returns the object and what happened.
pub fn merge(
    p: &Planned,
    old: Option<&StoredObject>,
    rv: u64,
    now: &str,
) -> (StoredObject, &'static str) {
    let mut value = p.value.clone();
    let old_hash = old
        .and_then(|o| {
            o.value.pointer(&format!(
                "/metadata/annotations/{}",
                APPLIED_HASH.replace('/', "~1")
            ))
        })
        .and_then(Value::as_str);
    let meta = &mut value["metadata"];
    meta["annotations"][APPLIED_HASH] = json!(p.hash);
    let action = match old {
        None => {
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
            meta["creationTimestamp"] = json!(now);
            meta["generation"] = json!(1);
            "created"
        }
        Some(o) => {
            let om = &o.value["metadata"];
            meta["uid"] = om["uid"].clone();
            meta["creationTimestamp"] = om["creationTimestamp"].clone();
            let generation = om["generation"].as_i64().unwrap_or(1);
            let spec_changed = o.value.get("spec") != p.value.get("spec");
            meta["generation"] = json!(if spec_changed {
                generation + 1
            } else {
                generation
            });
            if let Some(status) = o.value.get("status") {
                value["status"] = status.clone();
            }
            if let Some(ip) = o.value.pointer("/spec/clusterIP")
                && value.get("spec").is_some()
                && value.pointer("/spec/clusterIP").is_none()
            {
                value["spec"]["clusterIP"] = ip.clone();
            }
            // A pod stays bound to the node it was scheduled to.
            if let Some(node) = o.value.pointer("/spec/nodeName")
                && p.kind == Some(Kind::Pod)
                && value.pointer("/spec/nodeName").is_none()
            {
                value["spec"]["nodeName"] = node.clone();
            }
            if old_hash == Some(p.hash.as_str()) {
                "unchanged"
            } else {
                "configured"
            }
        }
    };
    value["metadata"]["resourceVersion"] = json!(rv.to_string());
    let obj = StoredObject {
        group_kind: p.key.group_kind.clone(),
        namespace: (!p.key.namespace.is_empty()).then(|| p.key.namespace.clone()),
        name: p.key.name.clone(),
        source: p.source.clone(),
        value,
    };
    (obj, action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<Vec<Planned>, Problems> {
        plan(
            &[("m.yaml".into(), text.into())],
            &[],
            &[("default".to_string(), Level::Baseline)]
                .into_iter()
                .collect(),
        )
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: web:v1}]\n";

    #[test]
    fn valid_deployment_plans() {
        let p = run(DEPLOY).unwrap();
        assert_eq!(p[0].key.to_string(), "deployment.apps/web");
        assert_eq!(p[0].key.namespace, "default");
    }

    #[test]
    fn selector_mismatch_names_field_and_rejects_all() {
        let bad = DEPLOY.replace("labels: {app: web}", "labels: {app: other}");
        let text = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok}}\n---\n{bad}");
        let err = run(&text).unwrap_err();
        assert_eq!(err.0.len(), 1);
        let s = err.0[0].to_string();
        assert!(
            s.starts_with(
                "m.yaml: document 1 (Deployment/web): field `spec.template.metadata.labels`"
            ),
            "{s}"
        );
    }

    #[test]
    fn unknown_kind_is_named() {
        let err =
            run("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n").unwrap_err();
        assert!(err.to_string().contains("unknown kind `Widget`"), "{err}");
    }

    #[test]
    fn bad_port_and_quantity_are_named() {
        let bad = DEPLOY.replace(
            "image: web:v1}",
            "image: web:v1, ports: [{containerPort: 70000}], resources: {limits: {memory: lots}}}",
        );
        let err = run(&bad).unwrap_err().to_string();
        assert!(
            err.contains("containers[0].ports[0].containerPort"),
            "{err}"
        );
        assert!(
            err.contains("containers[0].resources.limits.memory"),
            "{err}"
        );
    }

    #[test]
    fn missing_namespace_is_an_error() {
        let err = run(&DEPLOY.replace("{name: web}", "{name: web, namespace: prod}")).unwrap_err();
        assert!(
            err.to_string().contains("namespace `prod` does not exist"),
            "{err}"
        );
    }

    #[test]
    fn apply_namespace_fills_and_must_match() {
        let levels = [("default", Level::Baseline), ("team", Level::Baseline)]
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect();
        let src = |t: &str| vec![("m.yaml".to_string(), t.to_string())];
        let p = plan_in(&src(DEPLOY), Some("team"), &[], &levels).unwrap();
        assert_eq!(p[0].key.namespace, "team");
        assert_eq!(p[0].value["metadata"]["namespace"], "team");
        let named = DEPLOY.replace("{name: web}", "{name: web, namespace: default}");
        let err = plan_in(&src(&named), Some("team"), &[], &levels).unwrap_err();
        assert!(
            err.to_string().contains(
                "the namespace from the provided object \"default\" does not match the namespace \"team\""
            ),
            "{err}"
        );
        let same = DEPLOY.replace("{name: web}", "{name: web, namespace: team}");
        assert!(plan_in(&src(&same), Some("team"), &[], &levels).is_ok());
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n";
        let p = plan_in(&src(ns), Some("team"), &[], &levels).unwrap();
        assert_eq!(p[0].key.namespace, "", "cluster-scoped objects ignore -n");
    }

    #[test]
    fn reapply_is_unchanged_and_edit_is_configured() {
        let p = &run(DEPLOY).unwrap()[0];
        let (first, a) = merge(p, None, 1, "t");
        assert_eq!(a, "created");
        let (second, a) = merge(p, Some(&first), 2, "t");
        assert_eq!(a, "unchanged");
        assert_eq!(
            second.value["metadata"]["uid"],
            first.value["metadata"]["uid"]
        );
        let p2 = &run(&DEPLOY.replace("web:v1", "web:v2")).unwrap()[0];
        let (third, a) = merge(p2, Some(&second), 3, "t");
        assert_eq!(a, "configured");
        assert_eq!(third.value["metadata"]["generation"], 2);
    }
}
