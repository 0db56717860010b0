//! The delivery kinds: `Application` (what to deploy from git, to which
//! environments, how to sync it) and `Pipeline` (which branches and tags
//! build which images with which tags, and where they are promoted).
//!
//! Both are strict (`deny_unknown_fields`) and validated as part of the
//! topology, so a typo names file, document and field before anything runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problems, TemplateProblem};
use crate::labels::LabelSelector;
use crate::meta::validate_dns_label;
use crate::topology::Object;
use crate::yaml::Document;

/// An application: manifests at a path of a git repository, synced to every
/// environment its selector picks.
pub type Application = Object<ApplicationSpec>;
/// A pipeline: branch/tag rules that build and promote an application.
pub type Pipeline = Object<PipelineSpec>;

/// `spec` of an `Application`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSpec {
    pub source: AppSource,
    /// How the manifests are rendered; detected from the directory if unset.
    #[serde(default)]
    pub render: Render,
    /// Environments (by their labels) this application is deployed to.
    #[serde(default)]
    pub environments: LabelSelector,
    /// Applications that must be synced and healthy before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub sync_policy: SyncPolicy,
    /// Image automation: new tags pushed to the registry that match update
    /// the deployed image without a commit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_policies: Vec<ImagePolicy>,
}

/// Where the manifests come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSource {
    /// `file://`, `https://`, `ssh://` (or `user@host:path`) URL, or a local path.
    pub repo_url: String,
    /// Directory inside the repository; the root when unset.
    #[serde(default)]
    pub path: String,
    /// Branch or tag to follow when no pipeline rule picks the revision.
    #[serde(default = "default_revision")]
    pub target_revision: String,
    /// Shallow fetch: only this many commits of each branch and tag (a
    /// rollback can still go to any revision deployed since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// HTTP(S) credentials (ssh uses the `ssh` client's keys and agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<crate::replication_spec::CredentialsRef>,
    /// PEM file of the CA(s) an `https://` repository's certificate chains
    /// to, trusted besides the built-in roots (Flux's `ca.crt`, Argo CD's
    /// repository CA); relative to the topology file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_revision() -> String {
    "master".into()
}

/// Rendering of the application's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Render {
    /// `auto` (default), `directory`, `kustomize` or `helm`.
    #[serde(default)]
    pub kind: RenderKind,
    /// Helm values files, relative to the chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// Image overrides applied natively after rendering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageOverride>,
}

/// The renderer to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RenderKind {
    #[default]
    Auto,
    Directory,
    Kustomize,
    Helm,
}

/// Kustomize-style image override: `name` matches the image without its tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageOverride {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
}

/// What the sync engine may do on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncPolicy {
    /// Sync whenever git (or an image policy) changes the desired state.
    #[serde(default = "yes")]
    pub automated: bool,
    /// Revert changes made by hand to objects ferry applied.
    #[serde(default)]
    pub self_heal: bool,
    /// Delete objects that left git (only those ferry created).
    #[serde(default)]
    pub prune: bool,
    /// Take over fields another tool applied (Kubernetes server-side apply
    /// `force`); without it such a conflict fails the sync, naming the
    /// other field manager. Fields edited by hand are taken back either way.
    #[serde(default)]
    pub force: bool,
}

fn yes() -> bool {
    true
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            automated: true,
            self_heal: false,
            prune: false,
            force: false,
        }
    }
}

/// Image automation: a repository and the tags to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImagePolicy {
    /// Image name as written in the manifests (without tag).
    pub image: String,
    /// A tag must match this regular expression…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// …or be a semantic version inside this range (`>=1.0, <2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
}

/// `spec` of a `Pipeline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    /// The application this pipeline builds and promotes.
    pub application: String,
    /// The region whose registry receives the builds.
    pub build_region: String,
    /// Images built from the repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<BuildImage>,
    /// First matching rule wins.
    pub rules: Vec<PipelineRule>,
}

/// One image the pipeline builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildImage {
    /// Repository name in the registry (and in the manifests), e.g. `myhero/data`.
    pub name: String,
    /// Build context directory inside the git repository.
    pub context: String,
    /// Dockerfile path relative to the context; `Dockerfile` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// `--build-arg` values passed to the build.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
}

/// Maps a branch or tag pattern to a tag template and target environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineRule {
    /// Branch glob (`dev`, `feature/*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag glob (`v*`); the tag's semantic version is `{semver}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Image tag template: `{sha7}`, `{sha}`, `{branch}`, `{semver}`.
    pub image_tag: String,
    /// Environments this rule deploys to.
    #[serde(default)]
    pub environments: LabelSelector,
    /// Deploy only commits already healthy in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_healthy_in: Option<String>,
    /// Wait for `ferry app promote` before deploying.
    #[serde(default)]
    pub manual_approval: bool,
    /// Each matching branch gets its own namespace in this region, removed
    /// when the branch is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_region: Option<String>,
}

/// Checks names and cross-references of the delivery kinds.
pub fn validate(
    apps: &[(&Document, Application)],
    pipelines: &[(&Document, Pipeline)],
    regions: &[&str],
    problems: &mut Problems,
) {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let app_names: Vec<&str> = apps.iter().map(|(_, a)| a.metadata.name.as_str()).collect();
    for (doc, app) in apps {
        let name = app.metadata.name.as_str();
        if let Err(m) = validate_dns_label(name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        if let Some(first) = names.insert(name, doc.index) {
            problems.push(doc.problem(
                "metadata.name",
                format!("duplicate application `{name}` (first declared in document {first})"),
            ));
        }
        if app.spec.source.repo_url.trim().is_empty() {
            problems.push(doc.problem("spec.source.repoUrl", "must not be empty"));
        }
        if app.spec.source.depth == Some(0) {
            problems.push(doc.problem(
                "spec.source.depth",
                "must be at least 1 (leave it out for full history)",
            ));
        }
        if let Some(c) = &app.spec.source.credentials {
            if c.username.is_empty() {
                problems.push(doc.problem("spec.source.credentials.username", "must not be empty"));
            }
            if c.password_env.is_some() == c.password_file.is_some() {
                problems.push(doc.problem(
                    "spec.source.credentials",
                    "give exactly one of `passwordEnv` or `passwordFile`",
                ));
            }
        }
        if app.spec.source.ca_file.is_some() && !app.spec.source.repo_url.starts_with("https://") {
            problems.push(doc.problem(
                "spec.source.caFile",
                "only applies to an `https://` repoUrl",
            ));
        }
        if app.spec.source.path.split('/').any(|c| c == "..") {
            problems.push(doc.problem("spec.source.path", "must stay inside the repository"));
        }
        for (i, dep) in app.spec.depends_on.iter().enumerate() {
            if dep == name {
                problems.push(doc.problem(
                    &format!("spec.dependsOn.{i}"),
                    "an application cannot depend on itself",
                ));
            } else if !app_names.contains(&dep.as_str()) {
                problems.push(
                    doc.problem(
                        &format!("spec.dependsOn.{i}"),
                        format!("unknown application `{dep}`"),
                    )
                    .with_suggestion(crate::error::nearest(dep, app_names.iter().copied())),
                );
            }
        }
        for (i, p) in app.spec.image_policies.iter().enumerate() {
            let at = format!("spec.imagePolicies.{i}");
            match (&p.regex, &p.semver) {
                (None, None) | (Some(_), Some(_)) => {
                    problems.push(doc.problem(&at, "set exactly one of `regex` and `semver`"))
                }
                _ => {}
            }
        }
    }
    for (doc, p) in pipelines {
        if let Err(m) = validate_dns_label(&p.metadata.name) {
            problems.push(doc.problem("metadata.name", m.to_string()));
        }
        if !app_names.contains(&p.spec.application.as_str()) {
            problems.push(
                doc.problem(
                    "spec.application",
                    format!("unknown application `{}`", p.spec.application),
                )
                .with_suggestion(crate::error::nearest(
                    &p.spec.application,
                    app_names.iter().copied(),
                )),
            );
        }
        if !regions.contains(&p.spec.build_region.as_str()) {
            problems.push(
                doc.problem(
                    "spec.buildRegion",
                    format!("unknown region `{}`", p.spec.build_region),
                )
                .with_suggestion(crate::error::nearest(
                    &p.spec.build_region,
                    regions.iter().copied(),
                )),
            );
        }
        for (i, image) in p.spec.images.iter().enumerate() {
            let at = format!("spec.images.{i}");
            if image.name.is_empty() || image.name.contains(':') || image.name.contains('@') {
                problems.push(doc.problem(
                    &format!("{at}.name"),
                    "must be a repository name without registry, tag or digest (e.g. `myhero/ui`)",
                ));
            }
            let escapes = |p: &str| p.starts_with('/') || p.split('/').any(|c| c == "..");
            if escapes(&image.context) {
                problems.push(doc.problem(
                    &format!("{at}.context"),
                    "must be a relative path inside the repository",
                ));
            }
            if image.dockerfile.as_deref().is_some_and(escapes) {
                problems.push(doc.problem(
                    &format!("{at}.dockerfile"),
                    "must be a relative path inside the context",
                ));
            }
        }
        if p.spec.rules.is_empty() {
            problems.push(doc.problem("spec.rules", "a pipeline needs at least one rule"));
        }
        for (i, r) in p.spec.rules.iter().enumerate() {
            let at = format!("spec.rules.{i}");
            if r.branch.is_some() == r.tag.is_some() {
                problems.push(doc.problem(&at, "set exactly one of `branch` and `tag`"));
            }
            if let Err(m) = check_template(&r.image_tag) {
                problems.push(doc.problem(&format!("{at}.imageTag"), m.to_string()));
            }
            if let Some(region) = &r.ephemeral_region
                && !regions.contains(&region.as_str())
            {
                problems.push(doc.problem(
                    &format!("{at}.ephemeralRegion"),
                    format!("unknown region `{region}`"),
                ));
            }
        }
    }
}

/// The placeholders a tag template may use.
pub const TEMPLATE_VARS: &[&str] = &["sha7", "sha", "branch", "semver"];

fn check_template(t: &str) -> Result<(), Error> {
    let err = |problem| Error::Template {
        template: t.to_string(),
        problem,
    };
    if t.is_empty() {
        return Err(err(TemplateProblem::Empty));
    }
    let mut at = 0;
    while let Some(open) = t[at..].find('{').map(|o| at + o) {
        let Some(close) = t[open..].find('}').map(|c| open + c) else {
            return Err(err(TemplateProblem::Unclosed));
        };
        if !TEMPLATE_VARS.contains(&&t[open + 1..close]) {
            return Err(err(TemplateProblem::UnknownPlaceholder(open + 1, close)));
        }
        at = close + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_needs_an_https_repo_url() {
        let topology = |url: &str| {
            let text = format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: a}}\nspec: {{source: {{repoUrl: '{url}', caFile: ca.crt}}}}\n"
            );
            crate::topology::Topology::from_sources(&[("t.yaml".into(), text)])
        };
        let err = topology("http://git.example/r.git")
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.source.caFile"), "{err}");
        let t = topology("https://git.example/r.git").unwrap();
        let ca = t.applications[0].spec.source.ca_file.as_deref();
        assert_eq!(ca, Some(std::path::Path::new("ca.crt")));
    }

    #[test]
    fn templates() {
        assert!(check_template("dev-{sha7}").is_ok());
        assert!(check_template("{semver}").is_ok());
        assert!(
            check_template("x-{sha8}")
                .unwrap_err()
                .to_string()
                .contains("{sha8}")
        );
        assert!(check_template("x-{sha7").is_err());
        assert!(check_template("").is_err());
    }
}
