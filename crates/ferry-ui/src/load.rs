//! Where pages get their data: one read of the engine's statuses (limited
//! to what the viewer's token reaches), one history, the runtime's
//! ReplicaSets and Pods of one namespace, its Knative Services and Revisions
//! in the viewer's namespaces; then the pure renderers. Also the
//! policy question every button and POST asks.

use axum::http::Method;
use ferry_api::Identity;
use ferry_auth::policy::{self, Need};
use ferry_delivery::status::AppStatus;
use ferry_runtime::kinds::Kind;

use crate::pages::app::AppPage;
use crate::pages::overview::{Reach, RegionRow, RegistryState};
use crate::view::Filter;
use crate::{Error, Ui, pages, tree, view};

/// An application's page: its body and, separately, the environment's
/// section (what live updates replace).
#[derive(Debug)]
pub(crate) struct AppView {
    pub body: String,
    pub section: String,
}

impl Ui {
    /// Whether `who` may `method path` on the API (the route policy).
    pub(crate) fn allowed(&self, who: &Identity, method: &Method, path: &str) -> Result<(), Error> {
        match policy::need(method, path, None) {
            Need::Open => Ok(()),
            Need::Token { role, scope } => {
                policy::check(who, role, &scope).map_err(|d| Error::Forbidden(d.0))
            }
        }
    }

    /// Every application `who` may see.
    fn visible_apps(&self, who: &Identity) -> Vec<AppStatus> {
        let mut apps = self.cfg().engine.list();
        apps.retain(|a| who.allows_app(&a.name));
        apps
    }

    pub(crate) fn overview_body(&self, who: &Identity) -> String {
        let apps = self.visible_apps(who);
        let envs = view::env_counts(&self.cfg().topology, &apps);
        let mut body = pages::overview::overview(&self.region_rows(), &envs);
        body.push_str(&self.registry_fragment(who));
        body.push_str(&self.delivery_map(who));
        body
    }

    /// The regions of the topology, each up or not as far as known.
    fn region_rows(&self) -> Vec<RegionRow> {
        let cfg = self.cfg();
        cfg.topology
            .regions
            .iter()
            .map(|r| RegionRow {
                name: r.metadata.name.clone(),
                api: cfg
                    .endpoints
                    .get(&r.metadata.name)
                    .cloned()
                    .unwrap_or_default(),
                this: r.metadata.name == cfg.region,
                environments: cfg
                    .topology
                    .environments
                    .iter()
                    .filter(|e| e.spec.region == r.metadata.name)
                    .count(),
                reach: self.reach(&r.metadata.name),
            })
            .collect()
    }

    /// The overview's regions table (the same for every viewer).
    pub(crate) fn regions_fragment(&self) -> String {
        pages::overview::regions_table(&self.region_rows())
    }

    /// The overview's registry section as `who` may see it.
    pub(crate) fn registry_fragment(&self, who: &Identity) -> String {
        let cfg = self.cfg();
        let rules = cfg.replication.as_ref().map(|r| r.status());
        let state = match &rules {
            None => RegistryState::NoReplication,
            Some(_)
                if self
                    .allowed(who, &Method::GET, "/api/v1/replication")
                    .is_err() =>
            {
                RegistryState::Hidden
            }
            Some(r) => RegistryState::Rules(r),
        };
        pages::overview::registry_section(&cfg.region, state)
    }

    /// Whether region `name` answers: this process's regions do; the
    /// others as the server's last probe found them.
    pub(crate) fn reach(&self, name: &str) -> Reach {
        let cfg = self.cfg();
        if cfg.endpoints.contains_key(name) || name == cfg.region {
            return Reach::Local {
                version: env!("CARGO_PKG_VERSION").to_string(),
            };
        }
        let Some(seen) = cfg.regions.as_ref().and_then(|r| r.get(name)) else {
            return Reach::Unknown;
        };
        if seen.up {
            Reach::Up {
                version: seen.version,
                checked: pages::app::started(seen.checked_ms),
            }
        } else {
            Reach::Unreachable {
                since: pages::app::started(seen.since_ms),
                error: seen.error.unwrap_or_default(),
                version: seen.version,
            }
        }
    }

    pub(crate) fn envs_fragment(&self, who: &Identity) -> String {
        let apps = self.visible_apps(who);
        pages::overview::envs_table(&view::env_counts(&self.cfg().topology, &apps))
    }

    pub(crate) fn list_body(&self, who: &Identity, filter: &Filter) -> String {
        let apps = self.visible_apps(who);
        let envs: Vec<String> = view::env_counts(&self.cfg().topology, &apps)
            .into_iter()
            .map(|e| e.name)
            .collect();
        pages::apps::apps(&view::rows(&apps, filter), filter, &envs)
    }

    pub(crate) fn list_fragment(&self, who: &Identity, filter: &Filter) -> String {
        let apps = self.visible_apps(who);
        pages::apps::table(&view::rows(&apps, filter), filter)
    }

    /// Application `name` in environment `env` (default: its first).
    pub(crate) fn app_view(
        &self,
        who: &Identity,
        name: &str,
        env: Option<&str>,
        csrf: &str,
    ) -> Result<AppView, Error> {
        let engine = &self.cfg().engine;
        self.allowed(who, &Method::GET, &format!("/api/v1/apps/{name}"))?;
        let app = engine.get(name)?;
        let chosen = match env {
            Some(e) => app.environments.iter().find(|x| x.environment == e),
            None => app.environments.first(),
        };
        let Some(chosen) = chosen else {
            if let Some(e) = env {
                return Err(Error::NotFound(format!(
                    "application `{name}` has no environment `{e}`"
                )));
            }
            let section = "<section id=\"env\"><p>The engine has not reconciled this application \
                 yet; this part of the page updates when it has.</p></section>"
                .to_string();
            let body = format!("<h1>{}</h1>{section}", crate::html::Esc(name));
            return Ok(AppView { body, section });
        };
        let mut history = engine.history(name)?;
        history.retain(|h| h.environment == chosen.environment);
        let live = self.live_objects(&chosen.region, &chosen.namespace);
        let nodes = tree::build(&chosen.objects, &live);
        let action = |verb: &str| {
            self.allowed(who, &Method::POST, &format!("/api/v1/apps/{name}/{verb}"))
                .is_ok()
        };
        let page = AppPage {
            app: &app,
            env: chosen,
            tree: &nodes,
            history: &history,
            can_sync: action("sync"),
            can_rollback: action("rollback"),
            can_promote: action("promote"),
            csrf,
        };
        Ok(AppView {
            body: pages::app::app(&page),
            section: pages::app::env_section(&page),
        })
    }

    /// This region's Knative Services and Revisions in the namespaces `who`
    /// may read (none without a runtime).
    pub(crate) fn serverless_body(&self, who: &Identity) -> String {
        pages::serverless::serverless(&self.serverless_rows(who))
    }

    /// The serverless page's live part.
    pub(crate) fn serverless_fragment(&self, who: &Identity) -> String {
        pages::serverless::services_div(&self.serverless_rows(who))
    }

    fn serverless_rows(&self, who: &Identity) -> Vec<pages::serverless::ServiceRow> {
        let (mut services, mut revisions) = match &self.cfg().runtime {
            Some(rt) => (
                rt.list(Kind::KnativeService, None),
                rt.list(Kind::Revision, None),
            ),
            None => Default::default(),
        };
        let visible = |o: &serde_json::Value| {
            o.pointer("/metadata/namespace")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|ns| who.allows_namespace(ns))
        };
        services.retain(visible);
        revisions.retain(visible);
        pages::serverless::rows(&services, &revisions)
    }

    /// ReplicaSets and Pods of `namespace` when it is this region's.
    fn live_objects(&self, region: &str, namespace: &str) -> tree::Live {
        let cfg = self.cfg();
        match &cfg.runtime {
            Some(rt) if region == cfg.region => tree::Live {
                replica_sets: rt.list(Kind::ReplicaSet, Some(namespace)),
                pods: rt.list(Kind::Pod, Some(namespace)),
            },
            _ => tree::Live::default(),
        }
    }
}
