//! `Cluster`: a Kubernetes cluster declared once, with labels, so that
//! Environments (and Regions) pick clusters by label selector —
//! `spec.target: {kubernetes: {clusterSelector: {matchLabels: …}}}` — as
//! Applications pick environments. Its `spec` holds the fields of
//! `spec.target.kubernetes`: `kubeconfig` (relative to the topology file's
//! directory), `context`, `inCluster`. A selector matching several
//! clusters delivers to every one of them (a fleet, like an Argo CD
//! ApplicationSet's cluster generator); one matching none is refused,
//! naming the clusters and their labels. Pure: no file is read here.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Problems, nearest};
use crate::labels::LabelSelector;
use crate::meta::validate_dns_label;
use crate::target_spec::{KubernetesTarget, TargetKind, TargetSpec};
use crate::topology::Object;
use crate::yaml::Document;

/// A declared Kubernetes cluster.
pub type Cluster = Object<ClusterSpec>;

/// `spec` of a `Cluster`: how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// The kubeconfig file, relative to the topology file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Use the service account ferry's own pod runs as.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_cluster: bool,
}

impl ClusterSpec {
    /// The cluster as a `spec.target.kubernetes` naming it directly.
    pub fn target(&self) -> KubernetesTarget {
        KubernetesTarget {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            in_cluster: self.in_cluster,
            cluster_selector: None,
        }
    }
}

/// The clusters `selector` matches, in declaration order.
pub fn select<'a>(clusters: &'a [Cluster], selector: &LabelSelector) -> Vec<&'a Cluster> {
    clusters
        .iter()
        .filter(|c| selector.matches(&c.metadata.labels))
        .collect()
}

/// `name {k=v, …}` for each cluster, for messages.
pub fn describe(clusters: &[Cluster]) -> String {
    clusters
        .iter()
        .map(|c| format!("{} {}", c.metadata.name, labels_text(&c.metadata.labels)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{k=v, …}` (`{}` without labels).
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Checks every Cluster document: names (DNS labels, unique) and how each
/// is reached.
pub(crate) fn validate(clusters: &[(&Document, Cluster)], problems: &mut Problems) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (doc, c) in clusters {
        let name = c.metadata.name.as_str();
        if let Err(m) = validate_dns_label(name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        if let Some(first) = names.insert(name, doc.index) {
            problems.push(doc.problem(
                "metadata.name",
                format!("duplicate cluster `{name}` (first declared in document {first})"),
            ));
        }
        c.spec.target().validate_connection(doc, "spec", problems);
    }
}

/// Refuses a `clusterSelector` (in a Region's or Environment's
/// `spec.target`) that matches no declared Cluster, listing them.
pub(crate) fn check_selector(
    doc: &Document,
    target: Option<&TargetSpec>,
    clusters: &[Cluster],
    problems: &mut Problems,
) {
    let Some(TargetKind::Clusters(sel)) = target.map(TargetSpec::kind) else {
        return;
    };
    if !select(clusters, sel).is_empty() {
        return;
    }
    let known = if clusters.is_empty() {
        "no Cluster is declared; add `kind: Cluster` documents with labels".to_string()
    } else {
        format!("the clusters are: {}", describe(clusters))
    };
    let wanted = sel
        .match_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let hint = wanted
        .filter_map(|(k, v)| {
            let values = clusters.iter().filter_map(|c| c.metadata.labels.get(k));
            nearest(v, values.map(String::as_str)).map(|n| format!("{k}={n}"))
        })
        .next();
    problems.push(
        doc.problem(
            "spec.target.kubernetes.clusterSelector",
            format!("matches no cluster; {known}"),
        )
        .with_suggestion(hint),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ObjectMeta;

    fn cluster(name: &str, labels: &[(&str, &str)]) -> Cluster {
        let mut metadata = ObjectMeta::named(name);
        metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Cluster {
            api_version: crate::API_VERSION.into(),
            kind: "Cluster".into(),
            metadata,
            spec: ClusterSpec {
                kubeconfig: Some(format!("{name}.yaml").into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_selector_picks_every_matching_cluster_in_declaration_order() {
        let all = [
            cluster("eu-1", &[("region", "eu"), ("tier", "prod")]),
            cluster("cn-1", &[("region", "cn"), ("tier", "prod")]),
            cluster("eu-2", &[("region", "eu")]),
        ];
        let by = |text: &str| -> Vec<&str> {
            let sel = LabelSelector::parse(text).unwrap();
            select(&all, &sel)
                .iter()
                .map(|c| c.metadata.name.as_str())
                .collect()
        };
        assert_eq!(by("tier=prod"), ["eu-1", "cn-1"]);
        assert_eq!(by("region=cn"), ["cn-1"]);
        assert_eq!(by("region in (eu),!tier"), ["eu-2"]);
        assert!(by("region=us").is_empty());
        assert_eq!(by(""), ["eu-1", "cn-1", "eu-2"], "empty selects all");
        assert_eq!(
            describe(&all[..2]),
            "eu-1 {region=eu, tier=prod}, cn-1 {region=cn, tier=prod}"
        );
        assert_eq!(
            all[0].spec.target().kubeconfig,
            Some(PathBuf::from("eu-1.yaml"))
        );
    }
}
