//! Checks of one manifest document of a kind the runtime runs itself: its
//! name, then a strict decode into its Kubernetes type, then the kind's own
//! validation (`validate*.rs`); problems are pushed, never returned early.

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, Pod, ResourceQuota, Secret, Service,
};

use crate::kinds::{Kind, decode_strict};
use crate::local_paths;
use crate::validate;

/// Decodes a built-in kind's document strictly and runs that kind's checks.
pub(crate) fn check_builtin(doc: &Document, kind: Kind, found: &mut Vec<Problem>) {
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
        Kind::KnativeService => {
            let ksvc = decode!(crate::knative_spec::KService);
            crate::validate_knative::service(doc, &ksvc, found)
        }
        Kind::Revision => found.push(doc.problem(
            "kind",
            "Revisions are made by their Service's controller: apply a serving.knative.dev/v1 Service",
        )),
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
