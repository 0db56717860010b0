//! A `ReplicationRule` compiled for use: registry clients for both sides,
//! the repository glob set and tag regexes, and which engine runs it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ferry_core::replication_spec::{
    CredentialsRef, ReplicationEndpoint, ReplicationMode, ReplicationRule,
};
use ferry_image::{Credentials, RegistryClient};
use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;

use crate::error::{Error, Result};
use crate::throttle::TokenBucket;

/// Default seconds between reconcile passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default seconds between polls of a `mode: pull` rule's source (its
/// reconcile pass is the only way it learns of new images).
pub const DEFAULT_PULL_INTERVAL: Duration = Duration::from_secs(10);

/// One side of a compiled rule.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The region name, or the URL for a registry outside the topology.
    pub name: String,
    pub region: Option<String>,
    pub client: RegistryClient,
}

/// A rule ready to run.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub source: Endpoint,
    pub target: Endpoint,
    repositories: Option<GlobSet>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    pub deletes: bool,
    /// `spec.mode`: pull rules are run by the target region and learn of
    /// new images by polling the source only.
    pub mode: ReplicationMode,
    pub interval: Duration,
    /// `spec.bandwidth`: one bucket shared by all of the rule's copies.
    pub bucket: Option<Arc<TokenBucket>>,
    /// Bytes of blobs being copied not yet sent.
    pub in_flight: Arc<AtomicU64>,
}

impl Rule {
    /// Compiles `rule`; `registries` maps region names to their registry
    /// address (`host:port` or URL).
    pub fn compile(rule: &ReplicationRule, registries: &BTreeMap<String, String>) -> Result<Self> {
        Self::compile_trusting(rule, registries, &BTreeMap::new())
    }

    /// [`Rule::compile`] where a region's registry is trusted with its CA
    /// from `cas` (region name → PEM): a region in another process whose
    /// certificate its own CA signed.
    pub fn compile_trusting(
        rule: &ReplicationRule,
        registries: &BTreeMap<String, String>,
        cas: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self> {
        let name = rule.metadata.name.clone();
        let err = |message: String| Error::Rule {
            rule: name.clone(),
            message,
        };
        let spec = &rule.spec;
        let endpoint = |ep: &ReplicationEndpoint| -> Result<Endpoint> {
            let (label, addr) = match (&ep.region, &ep.url) {
                (Some(r), _) => (
                    r.clone(),
                    registries
                        .get(r)
                        .cloned()
                        .ok_or_else(|| err(format!("region `{r}` has no registry address")))?,
                ),
                (None, Some(u)) => (u.clone(), u.clone()),
                (None, None) => return Err(err("endpoint has neither region nor url".into())),
            };
            let creds = ep
                .credentials
                .as_ref()
                .map(|c| credentials(c).map_err(|e| err(e.to_string())))
                .transpose()?;
            Ok(Endpoint {
                name: label,
                region: ep.region.clone(),
                client: RegistryClient::with_ca(
                    &addr,
                    creds,
                    ep.region
                        .as_ref()
                        .and_then(|r| cas.get(r))
                        .map(Vec::as_slice),
                )?,
            })
        };
        let repositories = if spec.repositories.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &spec.repositories {
                b.add(Glob::new(g).map_err(|e| err(format!("glob `{g}`: {e}")))?);
            }
            Some(b.build().map_err(|e| err(e.to_string()))?)
        };
        let regexes = |list: &[String]| -> Result<Vec<Regex>> {
            list.iter()
                .map(|r| Regex::new(r).map_err(|e| err(format!("regex `{r}`: {e}"))))
                .collect()
        };
        let bucket = spec
            .bandwidth
            .as_deref()
            .map(ferry_core::replication_spec::parse_bandwidth)
            .transpose()
            .map_err(|m| err(format!("spec.bandwidth: {m}")))?
            .map(|rate| Arc::new(TokenBucket::new(rate)));
        Ok(Self {
            bucket,
            in_flight: Arc::default(),
            source: endpoint(&spec.source)?,
            target: endpoint(&spec.target)?,
            repositories,
            include: regexes(&spec.tags.include)?,
            exclude: regexes(&spec.tags.exclude)?,
            deletes: spec.deletes,
            mode: spec.mode,
            interval: spec.reconcile_interval_seconds.map_or(
                match spec.mode {
                    ReplicationMode::Push => DEFAULT_INTERVAL,
                    ReplicationMode::Pull => DEFAULT_PULL_INTERVAL,
                },
                Duration::from_secs,
            ),
            name,
        })
    }

    /// True when `repo` is one this rule copies.
    pub fn matches_repo(&self, repo: &str) -> bool {
        self.repositories.as_ref().is_none_or(|g| g.is_match(repo))
    }

    /// True when the rule restricts tags with `include` regexes (then
    /// digest-only pushes are left to the tagged copies).
    pub fn has_tag_filter(&self) -> bool {
        !self.include.is_empty()
    }

    /// True when `tag` passes the include/exclude regexes.
    pub fn matches_tag(&self, tag: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(tag)))
            && !self.exclude.iter().any(|r| r.is_match(tag))
    }
}

/// Which engine runs `rule`: in pull mode the target region's; otherwise
/// the source region's; for a URL source, the target region's; when both
/// sides are URLs, the first region's.
pub fn owned_by(rule: &ReplicationRule, region: &str, first_region: bool) -> bool {
    let pull = rule.spec.mode == ReplicationMode::Pull;
    match (&rule.spec.source.region, &rule.spec.target.region) {
        (_, Some(t)) if pull => t == region,
        (Some(s), _) => s == region,
        (None, Some(t)) => t == region,
        (None, None) => first_region,
    }
}

fn credentials(c: &CredentialsRef) -> std::result::Result<Credentials, ferry_core::Error> {
    Ok(Credentials {
        username: c.username.clone(),
        password: c.password()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::replication_spec::{ReplicationRuleSpec, TagFilter};

    fn rule(repos: &[&str], include: &[&str], exclude: &[&str]) -> ReplicationRule {
        ReplicationRule {
            api_version: ferry_core::API_VERSION.into(),
            kind: "ReplicationRule".into(),
            metadata: ferry_core::ObjectMeta {
                name: "r".into(),
                ..Default::default()
            },
            spec: ReplicationRuleSpec {
                source: ReplicationEndpoint {
                    region: Some("a".into()),
                    ..Default::default()
                },
                target: ReplicationEndpoint {
                    url: Some("http://127.0.0.1:9".into()),
                    ..Default::default()
                },
                repositories: repos.iter().map(|s| s.to_string()).collect(),
                tags: TagFilter {
                    include: include.iter().map(|s| s.to_string()).collect(),
                    exclude: exclude.iter().map(|s| s.to_string()).collect(),
                },
                deletes: false,
                reconcile_interval_seconds: None,
                mode: Default::default(),
                bandwidth: None,
            },
        }
    }

    #[test]
    fn filters_repositories_and_tags() {
        let regs = BTreeMap::from([("a".to_string(), "127.0.0.1:1".to_string())]);
        let r = Rule::compile(&rule(&["myhero/*"], &["^v"], &["-dev$"]), &regs).unwrap();
        assert!(r.matches_repo("myhero/data"));
        assert!(!r.matches_repo("other/data"));
        assert!(r.matches_tag("v1"));
        assert!(!r.matches_tag("v1-dev"));
        assert!(!r.matches_tag("latest"));
        let all = Rule::compile(&rule(&[], &[], &[]), &regs).unwrap();
        assert!(all.matches_repo("x/y/z") && all.matches_tag("anything"));
        assert_eq!(all.target.name, "http://127.0.0.1:9");
        assert!(owned_by(&rule(&[], &[], &[]), "a", false));
        assert!(!owned_by(&rule(&[], &[], &[]), "b", true));
        let mut pull = rule(&[], &[], &[]);
        pull.spec.target = ReplicationEndpoint {
            region: Some("b".into()),
            ..Default::default()
        };
        pull.spec.mode = ReplicationMode::Pull;
        assert!(owned_by(&pull, "b", false) && !owned_by(&pull, "a", true));
        let regs = BTreeMap::from([
            ("a".to_string(), "127.0.0.1:1".to_string()),
            ("b".to_string(), "127.0.0.1:2".to_string()),
        ]);
        assert_eq!(
            Rule::compile(&pull, &regs).unwrap().interval,
            DEFAULT_PULL_INTERVAL
        );
    }
}
