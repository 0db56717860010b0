//! Which (application, environment) instances exist right now and what
//! each should run: environments picked by label selector (or by the
//! pipeline rule matching them), the git ref and commit, the image tag and
//! the image references rewritten to the environment's own registry, and
//! ephemeral environments for branch patterns. Pure over the topology and
//! the fetched refs.

use std::collections::BTreeMap;

use ferry_core::app_spec::{Application, ImageOverride, Pipeline, PipelineRule};
use ferry_core::topology::Topology;

use crate::pipeline::{Resolved, ephemeral_branches, resolve, slug};
use crate::source::Refs;

/// One application in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub app: String,
    pub env: String,
    pub region: String,
    pub namespace: String,
    pub git_ref: String,
    /// `None` until fetched, or when the ref does not exist.
    pub commit: Option<String>,
    /// The pipeline and rule that drive this instance, if any.
    pub pipeline: Option<String>,
    pub rule: Option<PipelineRule>,
    /// The rule's tag template applied to `commit`.
    pub image_tag: Option<String>,
    /// Each pipeline image's own tag (image name → tag), filled in by the
    /// engine from git: an image `commit` did not change keeps the tag of
    /// the commit its inputs last changed in.
    pub image_tags: BTreeMap<String, String>,
    pub ephemeral: bool,
}

impl Instance {
    /// Image overrides rewriting each pipeline image to `registry`, with
    /// its own tag.
    pub fn overrides(&self, pipeline: Option<&Pipeline>, registry: &str) -> Vec<ImageOverride> {
        let Some(p) = pipeline else {
            return Vec::new();
        };
        p.spec
            .images
            .iter()
            .filter_map(|i| {
                Some(ImageOverride {
                    name: i.name.clone(),
                    new_name: Some(format!("{registry}/{}", i.name)),
                    new_tag: Some(self.image_tags.get(&i.name)?.clone()),
                })
            })
            .collect()
    }
}

/// The pipeline driving `app`, if one exists.
pub fn pipeline_of<'a>(topo: &'a Topology, app: &str) -> Option<&'a Pipeline> {
    topo.pipelines.iter().find(|p| p.spec.application == app)
}

/// Every instance of `app`, given the refs of its repository (if fetched).
pub fn instances(topo: &Topology, app: &Application, refs: Option<&Refs>) -> Vec<Instance> {
    let name = &app.metadata.name;
    let pipeline = pipeline_of(topo, name);
    let mut out = Vec::new();
    for env in &topo.environments {
        if !app.spec.environments.matches(&env.metadata.labels) {
            continue;
        }
        let base = Instance {
            app: name.clone(),
            env: env.metadata.name.clone(),
            region: env.spec.region.clone(),
            namespace: env.namespace().to_string(),
            git_ref: app.spec.source.target_revision.clone(),
            commit: None,
            pipeline: None,
            rule: None,
            image_tag: None,
            image_tags: BTreeMap::new(),
            ephemeral: false,
        };
        match pipeline {
            Some(p) => {
                let Some(rule) = p.spec.rules.iter().find(|r| {
                    r.ephemeral_region.is_none() && r.environments.matches(&env.metadata.labels)
                }) else {
                    continue;
                };
                let resolved = refs.and_then(|r| resolve(rule, r));
                let git_ref = rule
                    .branch
                    .clone()
                    .or_else(|| rule.tag.clone())
                    .unwrap_or_default();
                out.push(with_rule(base, p, rule, git_ref, resolved));
            }
            None => {
                let commit = refs
                    .and_then(|r| r.resolve(&base.git_ref))
                    .map(str::to_string);
                out.push(Instance { commit, ..base });
            }
        }
    }
    if let (Some(p), Some(refs)) = (pipeline, refs) {
        for rule in p.spec.rules.iter().filter(|r| r.ephemeral_region.is_some()) {
            let region = rule.ephemeral_region.clone().unwrap_or_default();
            for r in ephemeral_branches(rule, refs) {
                let env = ephemeral_env(name, &r.git_ref);
                let base = Instance {
                    app: name.clone(),
                    env: env.clone(),
                    region: region.clone(),
                    namespace: env,
                    git_ref: String::new(),
                    commit: None,
                    pipeline: None,
                    rule: None,
                    image_tag: None,
                    image_tags: BTreeMap::new(),
                    ephemeral: true,
                };
                let git_ref = r.git_ref.clone();
                out.push(with_rule(base, p, rule, git_ref, Some(r)));
            }
        }
    }
    out
}

fn with_rule(
    base: Instance,
    p: &Pipeline,
    rule: &PipelineRule,
    git_ref: String,
    r: Option<Resolved>,
) -> Instance {
    Instance {
        git_ref: r.as_ref().map_or(git_ref, |r| r.git_ref.clone()),
        commit: r.as_ref().map(|r| r.commit.clone()),
        image_tag: r.map(|r| r.image_tag),
        pipeline: Some(p.metadata.name.clone()),
        rule: Some(rule.clone()),
        ..base
    }
}

/// The name (and namespace) of a branch's ephemeral environment.
pub fn ephemeral_env(app: &str, branch: &str) -> String {
    let mut s = format!("{app}-{}", slug(branch));
    s.truncate(63);
    s.trim_end_matches('-').to_string()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
