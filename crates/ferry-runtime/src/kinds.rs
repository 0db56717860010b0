//! The kinds the runtime runs itself — one table, [`RESOURCES`], gives each
//! its names, group, plural, short names and scope (`ferry api-resources`
//! prints it) — and strict decoding of a manifest document into its
//! Kubernetes type (`decode.rs`, re-exported here).

use ferry_core::objects::GroupKind;

pub use crate::decode::decode_strict;

/// A kind the runtime handles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Node,
    ServiceAccount,
    ConfigMap,
    Secret,
    StorageClass,
    PersistentVolume,
    PersistentVolumeClaim,
    LimitRange,
    ResourceQuota,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    Service,
    NetworkPolicy,
    Deployment,
    ReplicaSet,
    StatefulSet,
    ControllerRevision,
    DaemonSet,
    PodDisruptionBudget,
    CronJob,
    Job,
    HorizontalPodAutoscaler,
    KnativeService,
    Revision,
    Pod,
}

/// What the API serves of one kind: the one table behind [`Kind`]'s names,
/// `Kind::from_cli` and `ferry api-resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub kind: Kind,
    /// The kind's name as in manifests.
    pub name: &'static str,
    /// The API group (empty: the core group).
    pub group: &'static str,
    pub version: &'static str,
    /// The plural resource name (`pods`), as RBAC rules and URLs name it.
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    /// kubectl's verbs for it.
    pub verbs: &'static [&'static str],
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const RBAC: &str = "rbac.authorization.k8s.io";

/// Every built-in kind, in the order an apply creates them.
pub const RESOURCES: &[Resource] = &[
    res(
        Kind::Namespace,
        "Namespace",
        "",
        "namespaces",
        &["ns"],
        false,
    ),
    res(Kind::Node, "Node", "", "nodes", &["no"], false),
    res(
        Kind::ServiceAccount,
        "ServiceAccount",
        "",
        "serviceaccounts",
        &["sa"],
        true,
    ),
    res(
        Kind::ConfigMap,
        "ConfigMap",
        "",
        "configmaps",
        &["cm"],
        true,
    ),
    res(Kind::Secret, "Secret", "", "secrets", &[], true),
    res(
        Kind::StorageClass,
        "StorageClass",
        "storage.k8s.io",
        "storageclasses",
        &["sc"],
        false,
    ),
    res(
        Kind::PersistentVolume,
        "PersistentVolume",
        "",
        "persistentvolumes",
        &["pv"],
        false,
    ),
    res(
        Kind::PersistentVolumeClaim,
        "PersistentVolumeClaim",
        "",
        "persistentvolumeclaims",
        &["pvc"],
        true,
    ),
    res(
        Kind::LimitRange,
        "LimitRange",
        "",
        "limitranges",
        &["limits"],
        true,
    ),
    res(
        Kind::ResourceQuota,
        "ResourceQuota",
        "",
        "resourcequotas",
        &["quota"],
        true,
    ),
    res(Kind::Role, "Role", RBAC, "roles", &[], true),
    res(
        Kind::RoleBinding,
        "RoleBinding",
        RBAC,
        "rolebindings",
        &[],
        true,
    ),
    res(
        Kind::ClusterRole,
        "ClusterRole",
        RBAC,
        "clusterroles",
        &[],
        false,
    ),
    res(
        Kind::ClusterRoleBinding,
        "ClusterRoleBinding",
        RBAC,
        "clusterrolebindings",
        &[],
        false,
    ),
    res(Kind::Service, "Service", "", "services", &["svc"], true),
    res(
        Kind::NetworkPolicy,
        "NetworkPolicy",
        "networking.k8s.io",
        "networkpolicies",
        &["netpol"],
        true,
    ),
    res(
        Kind::Deployment,
        "Deployment",
        "apps",
        "deployments",
        &["deploy"],
        true,
    ),
    res(
        Kind::ReplicaSet,
        "ReplicaSet",
        "apps",
        "replicasets",
        &["rs"],
        true,
    ),
    res(
        Kind::StatefulSet,
        "StatefulSet",
        "apps",
        "statefulsets",
        &["sts"],
        true,
    ),
    res(
        Kind::ControllerRevision,
        "ControllerRevision",
        "apps",
        "controllerrevisions",
        &[],
        true,
    ),
    res(
        Kind::DaemonSet,
        "DaemonSet",
        "apps",
        "daemonsets",
        &["ds"],
        true,
    ),
    res(
        Kind::PodDisruptionBudget,
        "PodDisruptionBudget",
        "policy",
        "poddisruptionbudgets",
        &["pdb"],
        true,
    ),
    res(Kind::CronJob, "CronJob", "batch", "cronjobs", &["cj"], true),
    res(Kind::Job, "Job", "batch", "jobs", &[], true),
    Resource {
        version: "v2",
        ..res(
            Kind::HorizontalPodAutoscaler,
            "HorizontalPodAutoscaler",
            "autoscaling",
            "horizontalpodautoscalers",
            &["hpa"],
            true,
        )
    },
    res(
        Kind::KnativeService,
        "Service",
        crate::knative_spec::GROUP,
        "services",
        &["ksvc", "kservice"],
        true,
    ),
    res(
        Kind::Revision,
        "Revision",
        crate::knative_spec::GROUP,
        "revisions",
        &["rev"],
        true,
    ),
    res(Kind::Pod, "Pod", "", "pods", &["po"], true),
];

const fn res(
    kind: Kind,
    name: &'static str,
    group: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
) -> Resource {
    Resource {
        kind,
        name,
        group,
        version: "v1",
        plural,
        short_names,
        namespaced,
        verbs: RW,
    }
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl Kind {
    /// Every built-in kind, in the order an apply creates them.
    pub const ALL: [Kind; RESOURCES.len()] = {
        let mut out = [Kind::Namespace; RESOURCES.len()];
        let mut i = 0;
        while i < RESOURCES.len() {
            out[i] = RESOURCES[i].kind;
            i += 1;
        }
        out
    };

    /// The kind's row of [`RESOURCES`].
    pub fn resource(self) -> &'static Resource {
        RESOURCES
            .iter()
            .find(|r| r.kind == self)
            .expect("every kind has a row in RESOURCES")
    }

    /// `(group, kind)`.
    pub fn group_kind(self) -> GroupKind {
        GroupKind::new(self.group(), self.name())
    }

    /// The API group (`apps`, `batch`, `rbac.authorization.k8s.io` or the core group).
    pub fn group(self) -> &'static str {
        self.resource().group
    }

    /// The `apiVersion` objects of this kind are written with.
    pub fn api_version(self) -> String {
        self.resource().api_version()
    }

    /// The kind's name as in manifests.
    pub fn name(self) -> &'static str {
        self.resource().name
    }

    /// The plural resource name (`pods`).
    pub fn plural(self) -> &'static str {
        self.resource().plural
    }

    /// False for cluster-scoped kinds.
    pub fn namespaced(self) -> bool {
        self.resource().namespaced
    }

    /// The kind for a group/kind, if built in.
    pub fn from_group_kind(gk: &GroupKind) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == gk.group && k.name() == gk.kind)
    }

    /// Resolves what users type on the command line (`po`, `deploy`, `svc`,
    /// `pods`, `pod`, `deployments.apps`…): a short name, the plural or the
    /// kind's name, case-insensitive, optionally with its group.
    pub fn from_cli(word: &str) -> Option<Kind> {
        let w = word.to_ascii_lowercase();
        let (w, group) = match w.split_once('.') {
            Some((w, g)) => (w.to_string(), Some(g.to_string())),
            None => (w, None),
        };
        RESOURCES
            .iter()
            .filter(|r| group.as_deref().is_none_or(|g| g == r.group))
            .find(|r| {
                r.plural == w
                    || r.name.eq_ignore_ascii_case(&w)
                    || r.short_names.contains(&w.as_str())
            })
            .map(|r| r.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_names_resolve() {
        assert_eq!(Kind::from_cli("deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("svc"), Some(Kind::Service));
        assert_eq!(Kind::from_cli("pods"), Some(Kind::Pod));
        assert_eq!(Kind::from_cli("deployments.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("nope"), None);
        assert_eq!(Kind::from_cli("sa"), Some(Kind::ServiceAccount));
        assert_eq!(Kind::from_cli("rolebindings"), Some(Kind::RoleBinding));
        assert_eq!(
            Kind::from_cli("clusterroles.rbac.authorization.k8s.io"),
            Some(Kind::ClusterRole)
        );
        assert_eq!(Kind::from_cli("pods.apps"), None);
        assert_eq!(Kind::from_cli("quota"), Some(Kind::ResourceQuota));
        assert_eq!(Kind::from_cli("limits"), Some(Kind::LimitRange));
    }

    #[test]
    fn the_table_names_every_kind_once() {
        for k in Kind::ALL {
            assert_eq!(k.resource().kind, k);
            assert_eq!(
                Kind::from_cli(&format!("{}.{}", k.plural(), k.group())),
                Some(k)
            );
            assert_eq!(Kind::from_group_kind(&k.group_kind()), Some(k));
        }
        assert_eq!(Kind::Role.api_version(), "rbac.authorization.k8s.io/v1");
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert!(!Kind::ClusterRoleBinding.namespaced() && Kind::RoleBinding.namespaced());
    }
}
