//! `spec.target` of an `Environment` or a `Region`: where its applications
//! run. `embedded: {}` is ferry's own runtime (the default);
//! `kubernetes: {kubeconfig: PATH, context: NAME}` or
//! `kubernetes: {inCluster: true}` is a Kubernetes cluster;
//! `kubernetes: {clusterSelector: {...}}` picks the declared `Cluster`s
//! whose labels match (every one of them: a fleet). A Region's
//! target is the default of its environments. Credentials stay in the
//! kubeconfig file (or the pod's service account); the topology only
//! names them. A relative `kubeconfig` starts at the topology file's
//! directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Problems;
use crate::labels::LabelSelector;
use crate::yaml::Document;

/// `spec.target`: exactly one of `embedded` or `kubernetes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSpec {
    /// ferry's embedded runtime, in the region's own process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedTarget>,
    /// A Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesTarget>,
}

/// `target.embedded`: no settings yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedTarget {}

/// `target.kubernetes`: a kubeconfig file (and optionally one of its
/// contexts), or the service account of the pod ferry runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesTarget {
    /// The kubeconfig file, relative to the topology file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Use the service account ferry's own pod runs as.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_cluster: bool,
    /// Instead of naming one cluster: every declared `Cluster` whose
    /// labels match (see `cluster_spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
}

/// Which target a spec names, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind<'a> {
    Embedded,
    /// One cluster, named by kubeconfig (and context) or in-cluster.
    Kubernetes(&'a KubernetesTarget),
    /// The declared `Cluster`s this selector matches.
    Clusters(&'a LabelSelector),
}

impl TargetSpec {
    /// The target this names (`embedded` when nothing is set).
    pub fn kind(&self) -> TargetKind<'_> {
        match &self.kubernetes {
            Some(KubernetesTarget {
                cluster_selector: Some(sel),
                ..
            }) => TargetKind::Clusters(sel),
            Some(k) => TargetKind::Kubernetes(k),
            None => TargetKind::Embedded,
        }
    }

    /// Checks the spec at `path` (`spec.target`) of `doc`.
    pub(crate) fn validate(&self, doc: &Document, path: &str, problems: &mut Problems) {
        let k = match (&self.embedded, &self.kubernetes) {
            (Some(_), None) => return,
            (None, Some(k)) => k,
            (Some(_), Some(_)) => {
                return problems.push(doc.problem(
                    path,
                    "name exactly one target: `embedded: {}` or `kubernetes: {...}`, not both",
                ));
            }
            (None, None) => {
                return problems.push(doc.problem(
                    path,
                    "name a target: `embedded: {}` (ferry's runtime) or `kubernetes: {kubeconfig: PATH}`",
                ));
            }
        };
        if k.cluster_selector.is_some() {
            let named = [
                ("kubeconfig", k.kubeconfig.is_some()),
                ("context", k.context.is_some()),
                ("inCluster", k.in_cluster),
            ];
            if let Some((field, _)) = named.iter().find(|(_, set)| *set) {
                problems.push(doc.problem(
                    &format!("{path}.kubernetes.{field}"),
                    "give either `clusterSelector` (declared Clusters by label) or one cluster \
                     (`kubeconfig`/`context` or `inCluster`), not both",
                ));
            }
            return;
        }
        k.validate_connection(doc, &format!("{path}.kubernetes"), problems);
    }
}

impl KubernetesTarget {
    /// Checks how one cluster is reached (`kubeconfig`, `context`,
    /// `inCluster`) at `path` of `doc`: a target's `kubernetes` or a
    /// Cluster's `spec`.
    pub(crate) fn validate_connection(&self, doc: &Document, path: &str, problems: &mut Problems) {
        let k = self;
        let at = |f: &str| format!("{path}.{f}");
        let empty_path = k
            .kubeconfig
            .as_deref()
            .is_some_and(|p| p.as_os_str().is_empty());
        match (&k.kubeconfig, k.in_cluster) {
            (Some(_), true) => problems.push(doc.problem(
                &at("inCluster"),
                "give either `kubeconfig` or `inCluster: true`, not both",
            )),
            (None, false) => problems.push(doc.problem(
                path,
                "say how to reach the cluster: `kubeconfig: PATH` (and optionally `context`) or `inCluster: true` \
                 (a target may instead pick declared Clusters with `clusterSelector`)",
            )),
            _ if empty_path => problems.push(doc.problem(&at("kubeconfig"), "must not be empty")),
            _ => {}
        }
        if k.in_cluster && k.context.is_some() {
            problems.push(doc.problem(
                &at("context"),
                "a context belongs to a kubeconfig; `inCluster: true` has none",
            ));
        }
        if k.context.as_deref() == Some("") {
            problems.push(doc.problem(
                &at("context"),
                "must not be empty (omit it for the current context)",
            ));
        }
    }

    /// The kubeconfig path resolved against `config_dir` (the topology
    /// file's directory), when one is named.
    pub fn kubeconfig_in(&self, config_dir: &Path) -> Option<PathBuf> {
        self.kubeconfig.as_ref().map(|p| config_dir.join(p))
    }

    /// The cluster's name in `ferry cluster list`: the context, else the
    /// kubeconfig's file stem, else `in-cluster`.
    pub fn display_name(&self) -> String {
        if let Some(c) = &self.context {
            return c.clone();
        }
        match self.kubeconfig.as_deref().and_then(Path::file_stem) {
            Some(stem) => stem.to_string_lossy().into_owned(),
            None => "in-cluster".to_string(),
        }
    }
}

/// What a Kubernetes target reports about itself (`ferry cluster list`):
/// the API server's URL (never a credential), its version and its nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFacts {
    /// The API server URL, without any user information.
    pub server: String,
    /// `/version`'s gitVersion, e.g. `v1.34.4`.
    pub version: String,
    pub nodes: usize,
    /// Nodes whose `Ready` condition is `True`.
    pub ready_nodes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_named_by_its_context_else_its_file() {
        let mut k = KubernetesTarget {
            kubeconfig: Some("conf/prod.yaml".into()),
            context: Some("gke-prod".into()),
            ..Default::default()
        };
        assert_eq!(k.display_name(), "gke-prod");
        k.context = None;
        assert_eq!(k.display_name(), "prod");
        let k = KubernetesTarget {
            in_cluster: true,
            ..Default::default()
        };
        assert_eq!(k.display_name(), "in-cluster");
    }
}
