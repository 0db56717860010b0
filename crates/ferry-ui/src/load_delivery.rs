//! Where the delivery pages get their data (then the pure renderers of
//! `pages::pipelines`, `pages::registry`, `pages::delivery_map`): the
//! engine's pipeline runs, this region's registry and replication engine,
//! the topology. What a viewer sees follows the API's rules: runs of the
//! pipelines whose application the token reaches (as
//! `GET /api/v1/pipelines/runs` filters them), repositories those
//! pipelines build (every repository for a token without a scope), and
//! replication state (the registry's Regions column, the map's arrows)
//! only where `GET /api/v1/replication` is allowed.

use axum::http::Method;
use ferry_api::Identity;
use ferry_delivery::pipeline::Run;

use crate::pages::delivery_map;
use crate::pages::overview::Reach;
use crate::pages::pipelines::{self, RunFilter};
use crate::pages::registry::{self as reg, PendingCopy, TagRow};
use crate::{Error, Ui};

impl Ui {
    /// Whether `who` reaches pipeline `name` (its application; a pipeline
    /// not in the topology by its own name, as the API decides).
    fn reaches_pipeline(&self, who: &Identity, name: &str) -> bool {
        let topo = &self.cfg().topology;
        match topo.pipelines.iter().find(|p| p.metadata.name == name) {
            Some(p) => who.allows_app(&p.spec.application),
            None => who.allows_app(name),
        }
    }

    fn visible_runs(&self, who: &Identity) -> Vec<Run> {
        let mut runs = self.cfg().engine.runs();
        runs.retain(|r| self.reaches_pipeline(who, &r.pipeline));
        runs
    }

    fn visible_pipelines(&self, who: &Identity) -> Vec<String> {
        let topo = &self.cfg().topology;
        topo.pipelines
            .iter()
            .filter(|p| who.allows_app(&p.spec.application))
            .map(|p| p.metadata.name.clone())
            .collect()
    }

    pub(crate) fn pipelines_body(&self, who: &Identity, filter: &RunFilter) -> String {
        let runs = self.visible_runs(who);
        let (page, pages) = pipelines::select(&runs, filter);
        pipelines::pipelines(&self.visible_pipelines(who), &page, filter, pages)
    }

    pub(crate) fn runs_fragment(&self, who: &Identity, filter: &RunFilter) -> String {
        let runs = self.visible_runs(who);
        let (page, pages) = pipelines::select(&runs, filter);
        pipelines::runs_table(&page, filter, pages)
    }

    /// Run `id` if `who` may see it.
    pub(crate) fn run(&self, who: &Identity, id: u64) -> Result<Run, Error> {
        self.visible_runs(who)
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::NotFound(format!("no pipeline run #{id}")))
    }

    /// The overview's delivery-path map: the viewer's pipelines, and the
    /// environments whose namespace the token reaches or where one of its
    /// applications runs.
    pub(crate) fn delivery_map(&self, who: &Identity) -> String {
        let pipelines = self.visible_pipelines(who);
        let names: Vec<&str> = pipelines.iter().map(String::as_str).collect();
        let apps = self.cfg().engine.list();
        let runs_here = |env: &str| {
            apps.iter()
                .filter(|a| who.allows_app(&a.name))
                .flat_map(|a| &a.environments)
                .any(|e| e.environment == env)
        };
        let topo = &self.cfg().topology;
        let envs = |env: &str| {
            !who.is_scoped()
                || runs_here(env)
                || topo
                    .environments
                    .iter()
                    .any(|e| e.metadata.name == env && who.allows_namespace(e.namespace()))
        };
        let mut map = delivery_map::build(topo, &names, envs);
        let rules = self.cfg().replication.as_ref().filter(|_| {
            self.allowed(who, &Method::GET, "/api/v1/replication")
                .is_ok()
        });
        let rules = rules.map(|r| r.status()).unwrap_or_default();
        delivery_map::mark(
            &mut map,
            |region| {
                topo.regions
                    .iter()
                    .any(|r| r.metadata.name == region)
                    .then_some(())?;
                match self.reach(region) {
                    Reach::Local { .. } | Reach::Up { .. } => Some("up"),
                    Reach::Unreachable { .. } => Some("unreachable"),
                    Reach::Unknown => None,
                }
            },
            |rule| rules.iter().find(|r| r.name == rule).map(rule_state),
        );
        delivery_map::render(&map)
    }

    /// Repositories of this region's registry `who` may see.
    async fn visible_repos(&self, who: &Identity) -> Result<Vec<String>, Error> {
        let Some(registry) = &self.cfg().registry else {
            return Ok(vec![]);
        };
        let mut repos = registry.repositories().await.map_err(registry_error)?;
        if who.is_scoped() {
            let topo = &self.cfg().topology;
            let mine: Vec<&str> = topo
                .pipelines
                .iter()
                .filter(|p| who.allows_app(&p.spec.application))
                .flat_map(|p| &p.spec.images)
                .map(|i| i.name.as_str())
                .collect();
            repos.retain(|r| mine.contains(&r.as_str()));
        }
        Ok(repos)
    }

    pub(crate) async fn registry_body(&self, who: &Identity, page: usize) -> Result<String, Error> {
        let repos = self.visible_repos(who).await?;
        Ok(reg::repositories(&repos, page))
    }

    pub(crate) async fn repository_body(
        &self,
        who: &Identity,
        name: &str,
        page: usize,
    ) -> Result<String, Error> {
        let repos = self.visible_repos(who).await?;
        let (Some(registry), true) = (&self.cfg().registry, repos.iter().any(|r| r == name)) else {
            return Err(Error::NotFound(format!(
                "no repository `{name}` you can see"
            )));
        };
        let skip = (page - 1) * reg::TAGS_PER_PAGE;
        let tags = registry
            .tag_page(name, skip, reg::TAGS_PER_PAGE)
            .await
            .map_err(registry_error)?;
        let replication = self.cfg().replication.as_ref().filter(|_| {
            self.allowed(who, &Method::GET, "/api/v1/replication")
                .is_ok()
        });
        let (pending, checked) = match replication {
            Some(r) => (
                r.pending_tasks()
                    .into_iter()
                    .map(|t| PendingCopy {
                        rule: t.rule,
                        repository: t.repository,
                        reference: t.reference,
                        attempts: t.attempts,
                        last_error: t.last_error,
                    })
                    .collect(),
                r.status()
                    .into_iter()
                    .filter(|s| s.last_reconcile.is_some())
                    .map(|s| s.name)
                    .collect(),
            ),
            None => (Vec::new(), Vec::<String>::new()),
        };
        let region = &self.cfg().region;
        let rows: Vec<TagRow> = tags
            .tags
            .iter()
            .map(|t| TagRow {
                held: reg::held(
                    region,
                    name,
                    &t.tag,
                    &replication
                        .map(|r| r.targets_of(name, &t.tag))
                        .unwrap_or_default(),
                    &pending,
                    |rule| checked.iter().any(|c| c == rule),
                ),
                info: t.clone(),
            })
            .collect();
        Ok(reg::repository(name, &tags, &rows, page))
    }
}

/// A rule's state on the map, in words (no age: see `delivery_map`).
fn rule_state(r: &ferry_replication::status::RuleStatus) -> String {
    match (r.pending, &r.last_reconcile) {
        (0, None) => "not checked yet".into(),
        (0, Some(_)) => "in sync".into(),
        (n, _) => format!("{n} pending"),
    }
}

fn registry_error(e: ferry_registry::Error) -> Error {
    Error::Registry(e.to_string())
}
