//! The `ReplicationRule` kind: copy images from one registry to another.
//!
//! ```yaml
//! apiVersion: ferry.dev/v1alpha1
//! kind: ReplicationRule
//! metadata: {name: uk-to-shanghai}
//! spec:
//!   source: {region: uk}                  # or {url: https://reg.example, credentials: {...}}
//!   target: {region: shanghai}
//!   repositories: ["myhero/*"]            # globs; default: every repository
//!   tags: {include: ["^v\\d+"], exclude: ["-dev$"]}   # regexes
//!   deletes: false                        # propagate deletions (alias `deletion`)
//!   bandwidth: 10Mi                       # cap per rule, bytes per second
//!   reconcileIntervalSeconds: 60          # periodic catch-up pass
//!   mode: push                            # or pull: run by the target region
//! ```
//!
//! `mode: push` (the default) is run by the source region's process, which
//! dials the target's registry. `mode: pull` is run by the target region's
//! process, which polls the source's catalog and tags lists every
//! `reconcileIntervalSeconds` (default 10 in pull mode) and copies what
//! differs into its own registry: the only way into a region marked
//! `spec.private: true`, whose host accepts no inbound connection.
//!
//! Validation is strict: exactly one of `region`/`url` per side, regions
//! must exist, source and target differ, globs and regexes compile,
//! credentials name where the password comes from (never inline).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Problems, nearest};
use crate::topology::Object;
use crate::yaml::Document;

/// A replication rule.
pub type ReplicationRule = Object<ReplicationRuleSpec>;

/// `spec` of a `ReplicationRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationRuleSpec {
    pub source: ReplicationEndpoint,
    pub target: ReplicationEndpoint,
    /// Repository globs (`*` within a path segment, `**` across); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    #[serde(default)]
    pub tags: TagFilter,
    /// Delete in the target what is deleted in the source: a removed tag
    /// loses its tag there, a deleted manifest is deleted (Harbor's
    /// "replicate deletion"). Never without this flag.
    #[serde(default, alias = "deletion")]
    pub deletes: bool,
    /// Cap on the bytes per second this rule moves (`10Mi`, `500k`, `2M`:
    /// binary `Ki`/`Mi`/`Gi` or decimal `k`/`M`/`G` suffixes); unset: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<String>,
    /// Seconds between reconcile passes (default 60; 10 in pull mode,
    /// where the pass is the only way to learn of new images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_interval_seconds: Option<u64>,
    /// Which side's process runs the rule (default `push`).
    #[serde(default, skip_serializing_if = "ReplicationMode::is_push")]
    pub mode: ReplicationMode,
}

/// `spec.mode` of a rule: which region's process runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicationMode {
    /// The source region's process dials the target's registry.
    #[default]
    Push,
    /// The target region's process polls the source's registry and copies
    /// into its own: the target needs no inbound connection.
    Pull,
}

impl ReplicationMode {
    /// True for the default, `push`.
    pub fn is_push(&self) -> bool {
        *self == ReplicationMode::Push
    }
}

/// One side of a rule: a region of the topology, or any OCI registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `http(s)://host[:port]` of a registry outside the topology.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsRef>,
}

/// Where a registry or git password comes from (never written inline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsRef {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl CredentialsRef {
    /// Reads the password from its environment variable or file (a
    /// trailing newline dropped); the error says which and what to do.
    pub fn password(&self) -> Result<String, crate::Error> {
        match (&self.password_env, &self.password_file) {
            (Some(var), _) => {
                std::env::var(var).map_err(|_| crate::Error::PasswordEnv { var: var.clone() })
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|source| crate::Error::PasswordFile {
                    path: path.clone(),
                    source,
                }),
            (None, None) => Err(crate::Error::NoPassword),
        }
    }
}

/// Tag regexes: a tag is replicated when it matches any `include` (or
/// `include` is empty) and no `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// Validates every rule against the topology's regions (their names, and
/// which are private: they accept no inbound connection).
pub fn validate(
    rules: &[(&Document, ReplicationRule)],
    all: &[(&Document, crate::topology::Region)],
    problems: &mut Problems,
) {
    let regions: Vec<&str> = all.iter().map(|(_, r)| r.metadata.name.as_str()).collect();
    let private: Vec<&str> = all
        .iter()
        .filter(|(_, r)| r.spec.private)
        .map(|(_, r)| r.metadata.name.as_str())
        .collect();
    let (regions, private) = (regions.as_slice(), private.as_slice());
    let mut names = std::collections::HashMap::new();
    for (doc, rule) in rules {
        let name = rule.metadata.name.as_str();
        if let Err(m) = crate::meta::validate_dns_label(name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        if let Some(first) = names.insert(name.to_string(), doc.index) {
            problems.push(doc.problem(
                "metadata.name",
                format!("duplicate replication rule `{name}` (first declared in document {first})"),
            ));
        }
        let s = &rule.spec;
        for (side, ep) in [("source", &s.source), ("target", &s.target)] {
            validate_endpoint(doc, side, ep, regions, problems);
        }
        if s.source.region.is_some() && s.source.region == s.target.region
            || s.source.url.is_some() && s.source.url == s.target.url
        {
            problems.push(doc.problem("spec.target", "source and target are the same registry"));
        }
        for (i, g) in s.repositories.iter().enumerate() {
            if let Err(e) = globset::Glob::new(g) {
                problems.push(doc.problem(
                    &format!("spec.repositories[{i}]"),
                    format!("invalid glob `{g}`: {e}"),
                ));
            }
        }
        for (list, res) in [("include", &s.tags.include), ("exclude", &s.tags.exclude)] {
            for (i, r) in res.iter().enumerate() {
                if let Err(e) = regex::Regex::new(r) {
                    let msg = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    problems.push(doc.problem(
                        &format!("spec.tags.{list}[{i}]"),
                        format!("invalid regex `{r}`: {msg}"),
                    ));
                }
            }
        }
        if let Some(b) = &s.bandwidth
            && let Err(m) = parse_bandwidth(b)
        {
            problems.push(doc.problem("spec.bandwidth", m));
        }
        if s.reconcile_interval_seconds == Some(0) {
            problems.push(doc.problem("spec.reconcileIntervalSeconds", "must be at least 1"));
        }
        validate_mode(doc, s, private, problems);
    }
}

/// Who can run the rule: a push into a private region would need an
/// inbound connection; a pull needs a target region to run it.
fn validate_mode(
    doc: &Document,
    s: &ReplicationRuleSpec,
    private: &[&str],
    problems: &mut Problems,
) {
    let target = s.target.region.as_deref();
    match s.mode {
        ReplicationMode::Push => {
            if let Some(t) = target.filter(|t| private.contains(t)) {
                problems.push(doc.problem(
                    "spec.mode",
                    format!(
                        "region `{t}` is private (spec.private: true) and accepts no inbound \
                         connection, so the source cannot push into it: use `mode: pull` \
                         (`{t}` then polls the source's registry and copies what is new)"
                    ),
                ));
            }
        }
        ReplicationMode::Pull => {
            if target.is_none() {
                problems.push(doc.problem(
                    "spec.mode",
                    "`mode: pull` is run by the target region's process: the target must be a `region`",
                ));
            }
            if let Some(sr) = s.source.region.as_deref().filter(|r| private.contains(r)) {
                problems.push(doc.problem(
                    "spec.mode",
                    format!(
                        "region `{sr}` is private and accepts no inbound connection, so the \
                         target cannot pull from it: use `mode: push` (the default)"
                    ),
                ));
            }
            if s.deletes {
                problems.push(doc.problem(
                    "spec.deletes",
                    "deletions are replicated from the source's events, which a pulling \
                     region does not receive: not supported with `mode: pull`",
                ));
            }
        }
    }
}

/// Bytes per second of a `spec.bandwidth` value: a positive integer with
/// an optional suffix `k`/`M`/`G` (powers of 1000) or `Ki`/`Mi`/`Gi`
/// (powers of 1024).
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (bytes per second: 500k, 10Mi, 1G)"
            ));
        }
    };
    match num.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{text}` is not a positive number of bytes per second (500k, 10Mi, 1G)"
        )),
    }
}

fn validate_endpoint(
    doc: &Document,
    side: &str,
    ep: &ReplicationEndpoint,
    regions: &[&str],
    problems: &mut Problems,
) {
    match (&ep.region, &ep.url) {
        (Some(_), Some(_)) | (None, None) => {
            problems.push(doc.problem(
                &format!("spec.{side}"),
                "give exactly one of `region` or `url`",
            ));
        }
        (Some(r), None) if !regions.contains(&r.as_str()) => {
            problems.push(
                doc.problem(
                    &format!("spec.{side}.region"),
                    format!("unknown region `{r}`"),
                )
                .with_suggestion(nearest(r, regions.iter().copied())),
            );
        }
        (None, Some(u)) => {
            let host = u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"));
            if host.is_none_or(|h| h.is_empty() || h.contains(' ')) {
                problems.push(doc.problem(
                    &format!("spec.{side}.url"),
                    format!("`{u}` is not an http:// or https:// registry URL"),
                ));
            }
        }
        _ => {}
    }
    if let Some(c) = &ep.credentials {
        let path = format!("spec.{side}.credentials");
        if c.username.is_empty() {
            problems.push(doc.problem(&format!("{path}.username"), "must not be empty"));
        }
        if c.password_env.is_some() == c.password_file.is_some() {
            problems
                .push(doc.problem(&path, "give exactly one of `passwordEnv` or `passwordFile`"));
        }
    }
}

#[cfg(test)]
#[path = "replication_spec_tests.rs"]
mod tests;
