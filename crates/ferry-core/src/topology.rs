//! The topology: ferry's own kinds that say where things run.
//!
//! `Region` (its listeners and data directory) and `Environment` (a named
//! target with labels, living in one region); either may name where its
//! applications run (`spec.target`, see `target_spec`), directly or by
//! picking labelled `Cluster`s (`cluster_spec`). Later components add their
//! kinds (`ReplicationRule`, `Application`, `Pipeline`) to [`KINDS`] and to
//! the dispatch in [`Topology::from_documents`]. Loading is strict and
//! collects every problem before returning.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::API_VERSION;
use crate::error::{Error, Problem, Problems, nearest};
use crate::meta::{ObjectMeta, validate_dns_label};
use crate::target_spec::{TargetKind, TargetSpec};
use crate::yaml::{Document, parse_documents};

/// The kinds a topology file may hold.
pub const KINDS: &[&str] = &[
    "Region",
    "Environment",
    "Cluster",
    "Application",
    "Pipeline",
    "ReplicationRule",
];

/// A document of one of ferry's own kinds: `apiVersion`, `kind`, `metadata`
/// and a typed `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: S,
}

/// A region: one registry, runtime, gateway and API server.
pub type Region = Object<RegionSpec>;
/// An environment: a deployment target inside one region.
pub type Environment = Object<EnvironmentSpec>;

/// `spec` of a `Region`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionSpec {
    /// Where the region keeps its state; defaults to `<data root>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub listeners: Listeners,
    /// Users, robots, TLS and webhooks of the region's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<crate::registry_spec::RegistrySpec>,
    /// HTTPS for the API listener (plain HTTP when absent; needed to bind
    /// the API beyond loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls_spec::TlsSpec>,
    /// A Kubernetes `EncryptionConfiguration` file (`secretbox` provider):
    /// Secrets are stored encrypted with its first key (relative to the
    /// topology file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<PathBuf>,
    /// Where the region's environments run unless they name their own
    /// target (default: the embedded runtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// How other regions' processes reach this one (`ferry up --region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<crate::region_endpoints::RegionEndpoints>,
    /// The region's host accepts no inbound connection from other regions:
    /// it only dials out (images reach it by `mode: pull` replication, it
    /// pushes its applications' status to the regions that gate on it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// The host addresses a region listens on. Port 0 picks a free port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listeners {
    pub api: SocketAddr,
    pub registry: SocketAddr,
    pub gateway: SocketAddr,
}

impl Listeners {
    /// `(listener name, address)` pairs, in a fixed order.
    pub fn named(&self) -> [(&'static str, SocketAddr); 3] {
        [
            ("api", self.api),
            ("registry", self.registry),
            ("gateway", self.gateway),
        ]
    }
}

/// `spec` of an `Environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The region this environment runs in.
    pub region: String,
    /// Namespace its workloads go to; defaults to the environment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Where its applications run (default: the region's target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// How a changed Deployment is rolled out (a canary, `rollout_spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<crate::rollout_spec::RolloutStrategy>,
}

impl Environment {
    /// The namespace workloads of this environment live in.
    pub fn namespace(&self) -> &str {
        self.spec
            .namespace
            .as_deref()
            .unwrap_or(&self.metadata.name)
    }
}

/// Every object of a topology, validated as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    pub regions: Vec<Region>,
    pub environments: Vec<Environment>,
    pub applications: Vec<crate::app_spec::Application>,
    pub pipelines: Vec<crate::app_spec::Pipeline>,
    pub replication_rules: Vec<crate::replication_spec::ReplicationRule>,
    /// Declared Kubernetes clusters, picked by `clusterSelector`.
    pub clusters: Vec<crate::cluster_spec::Cluster>,
}

impl Topology {
    /// The built-in topology used when `ferry up` is given no config: one
    /// region `local` on 127.0.0.1 and one environment `default` in it.
    pub fn builtin() -> Self {
        Self::from_sources(&[("<built-in>".to_string(), BUILTIN.to_string())])
            .expect("the built-in topology is valid")
    }

    /// Parses and validates several files given as `(name, text)`.
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let mut docs = Vec::new();
        for (file, text) in sources {
            match parse_documents(file, text) {
                Ok(d) => docs.extend(d),
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() && docs.is_empty() {
            // Nothing parsed; "no Region declared" would only add noise.
            return Err(Error::Invalid(problems));
        }
        if docs.is_empty() {
            let file = sources.first().map_or("<input>", |(f, _)| f.as_str());
            problems.push(Problem::file(
                file,
                "no Region declared: a topology needs at least one",
            ));
            return Err(Error::Invalid(problems));
        }
        match Self::from_documents(&docs) {
            Ok(t) => problems.into_result(t),
            Err(Error::Invalid(more)) => {
                problems.0.extend(more.0);
                Err(Error::Invalid(problems))
            }
            Err(e) => Err(e),
        }
    }

    /// Decodes and validates already-parsed documents.
    pub fn from_documents(docs: &[Document]) -> Result<Self, Error> {
        let mut problems = Problems::default();
        let mut topo = Topology::default();
        let mut regions = Vec::new();
        let mut envs = Vec::new();
        let mut apps = Vec::new();
        let mut pipelines = Vec::new();
        let mut replication_rules = Vec::new();
        let mut clusters = Vec::new();
        for doc in docs {
            let Some(kind) = doc.kind() else {
                problems.push(doc.problem("kind", "missing field `kind`"));
                continue;
            };
            if doc.api_version() != Some(API_VERSION) {
                problems.push(doc.problem(
                    "apiVersion",
                    format!(
                        "expected `{API_VERSION}`, found `{}`",
                        doc.api_version().unwrap_or("")
                    ),
                ));
                continue;
            }
            let decoded = match kind {
                "Region" => doc.decode::<Region>().map(|r| regions.push((doc, r))),
                "Environment" => doc.decode::<Environment>().map(|e| envs.push((doc, e))),
                "Application" => doc.decode().map(|a| apps.push((doc, a))),
                "Pipeline" => doc.decode().map(|p| pipelines.push((doc, p))),
                "ReplicationRule" => doc.decode().map(|r| replication_rules.push((doc, r))),
                "Cluster" => doc.decode().map(|c| clusters.push((doc, c))),
                other => Err(doc
                    .problem("kind", format!("unknown kind `{other}` in {API_VERSION}"))
                    .with_suggestion(nearest(other, KINDS.iter().copied()))),
            };
            if let Err(p) = decoded {
                problems.push(p);
            }
        }
        validate_regions(&regions, &mut problems);
        validate_environments(&envs, docs, &mut problems);
        crate::cluster_spec::validate(&clusters, &mut problems);
        topo.clusters = clusters.into_iter().map(|(_, c)| c).collect();
        let targets = regions
            .iter()
            .map(|(d, r)| (*d, r.spec.target.as_ref()))
            .chain(envs.iter().map(|(d, e)| (*d, e.spec.target.as_ref())));
        for (doc, target) in targets {
            crate::cluster_spec::check_selector(doc, target, &topo.clusters, &mut problems);
        }
        let region_names: Vec<&str> = regions
            .iter()
            .map(|(_, r)| r.metadata.name.as_str())
            .collect();
        crate::app_spec::validate(&apps, &pipelines, &region_names, &mut problems);
        topo.applications = apps.into_iter().map(|(_, a)| a).collect();
        topo.pipelines = pipelines.into_iter().map(|(_, p)| p).collect();
        crate::replication_spec::validate(&replication_rules, &regions, &mut problems);
        topo.replication_rules = replication_rules.into_iter().map(|(_, r)| r).collect();
        topo.regions = regions.into_iter().map(|(_, r)| r).collect();
        topo.environments = envs.into_iter().map(|(_, e)| e).collect();
        if problems.is_empty() && topo.regions.is_empty() {
            problems.push(Problem::file(
                docs.first().map_or("<input>", |d| d.file.as_str()),
                "no Region declared: a topology needs at least one",
            ));
        }
        problems.into_result(topo)
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.metadata.name == name)
    }

    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.metadata.name == name)
    }

    /// Where region `name`'s environments run by default.
    pub fn region_target(&self, name: &str) -> TargetKind<'_> {
        self.region(name)
            .and_then(|r| r.spec.target.as_ref())
            .map_or(TargetKind::Embedded, TargetSpec::kind)
    }

    /// The declared clusters `selector` picks, in declaration order.
    pub fn selected_clusters(
        &self,
        selector: &crate::labels::LabelSelector,
    ) -> Vec<&crate::cluster_spec::Cluster> {
        crate::cluster_spec::select(&self.clusters, selector)
    }

    /// Where `env` runs: its own target, else its region's, else embedded.
    pub fn environment_target<'a>(&'a self, env: &'a Environment) -> TargetKind<'a> {
        match &env.spec.target {
            Some(t) => t.kind(),
            None => self.region_target(&env.spec.region),
        }
    }
}

fn validate_regions(regions: &[(&Document, Region)], problems: &mut Problems) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addrs: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (doc, region) in regions {
        let name = region.metadata.name.as_str();
        if let Err(m) = validate_dns_label(name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        if let Some(first) = names.insert(name, doc.index) {
            problems.push(doc.problem(
                "metadata.name",
                format!("duplicate region `{name}` (first declared in document {first})"),
            ));
        }
        if let Some(tls) = &region.spec.tls {
            tls.validate(doc, problems);
        }
        if let Some(t) = &region.spec.target {
            t.validate(doc, "spec.target", problems);
        }
        if let Some(tls) = region.spec.registry.as_ref().and_then(|r| r.tls.as_ref()) {
            tls.validate(doc, problems);
        }
        if let Some(e) = &region.spec.endpoints {
            e.validate(doc, problems);
        }
        for (listener, addr) in region.spec.listeners.named() {
            if addr.port() == 0 {
                continue;
            }
            let here = format!("region `{name}` listener `{listener}`");
            if let Some(other) = addrs.insert(addr, here.clone()) {
                problems.push(doc.problem(
                    &format!("spec.listeners.{listener}"),
                    format!("address {addr} is already used by {other}"),
                ));
            }
        }
    }
}

fn validate_environments(
    envs: &[(&Document, Environment)],
    all_docs: &[Document],
    problems: &mut Problems,
) {
    // Names of every Region document, decoded or not, so a typo inside a
    // region does not also make each of its environments an error.
    let region_names: Vec<&str> = all_docs
        .iter()
        .filter(|d| d.kind() == Some("Region"))
        .filter_map(|d| d.name())
        .collect();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (doc, env) in envs {
        let name = env.metadata.name.as_str();
        if let Err(m) = validate_dns_label(name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        for (field, m) in env.spec.strategy.iter().flat_map(|s| s.canary.problems()) {
            problems.push(doc.problem(&field, m));
        }
        if let Some(first) = names.insert(name, doc.index) {
            problems.push(doc.problem(
                "metadata.name",
                format!("duplicate environment `{name}` (first declared in document {first})"),
            ));
        }
        if !region_names.contains(&env.spec.region.as_str()) {
            problems.push(
                doc.problem(
                    "spec.region",
                    format!("unknown region `{}`", env.spec.region),
                )
                .with_suggestion(nearest(&env.spec.region, region_names.iter().copied())),
            );
        }
        if let Some(ns) = &env.spec.namespace
            && let Err(m) = validate_dns_label(ns)
        {
            problems.push(doc.problem("spec.namespace", m.to_string()));
        }
        if let Some(t) = &env.spec.target {
            t.validate(doc, "spec.target", problems);
        }
    }
}

const BUILTIN: &str = "\
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata:
  name: local
spec:
  listeners:
    api: 127.0.0.1:7070
    registry: 127.0.0.1:5000
    gateway: 127.0.0.1:8080
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: default
spec:
  region: local
";

#[cfg(test)]
#[path = "topology_tests.rs"]
mod tests;
