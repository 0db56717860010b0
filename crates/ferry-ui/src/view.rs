//! What the pages show, computed from the engine's statuses in one pass
//! (pure, no IO): the applications list's rows after filtering and
//! pagination, and the overview's counts by health per environment.

use std::collections::BTreeMap;

use ferry_core::topology::Topology;
use ferry_delivery::health::Health;
use ferry_delivery::status::{AppStatus, EnvStatus, SyncState};
use serde::Deserialize;

/// Rows per page of the applications list.
pub const PAGE_SIZE: usize = 50;

/// The list's query: `?name=&env=&health=&page=` (empty means any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// A part of the application's name.
    pub name: String,
    /// An environment's exact name.
    pub env: String,
    /// A health word (`Healthy`, `Degraded`…), any case.
    pub health: String,
    /// 1-based (text, so an empty or bad value is page 1, not an error).
    pub page: String,
}

impl Filter {
    fn accepts(&self, app: &AppStatus, env: Option<&EnvStatus>) -> bool {
        let health = env.map_or(Health::Unknown, |e| e.health);
        (self.name.is_empty() || app.name.contains(self.name.trim()))
            && (self.env.is_empty() || env.is_some_and(|e| e.environment == self.env))
            && (self.health.is_empty() || health_word(health).eq_ignore_ascii_case(&self.health))
    }

    /// The page asked for, at least 1.
    pub fn page(&self) -> usize {
        self.page.trim().parse::<usize>().unwrap_or(1).max(1)
    }

    /// This filter as a query string for page `page` (values escaped).
    pub fn query(&self, page: usize) -> String {
        use crate::html::Url;
        format!(
            "name={}&env={}&health={}&page={page}",
            Url(&self.name),
            Url(&self.env),
            Url(&self.health)
        )
    }
}

/// One application in one environment: a row of the list (`env` is `None`
/// for an application the engine has not reconciled yet).
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub app: &'a AppStatus,
    pub env: Option<&'a EnvStatus>,
}

/// A page of rows and how many matched in all.
#[derive(Debug)]
pub struct Rows<'a> {
    pub rows: Vec<Row<'a>>,
    pub matched: usize,
    pub page: usize,
    pub pages: usize,
}

/// The rows of `apps` (already limited to what the viewer may see) that
/// `filter` accepts, page `filter.page()` of them. An application with no
/// environment yet has one row without one.
pub fn rows<'a>(apps: &'a [AppStatus], filter: &Filter) -> Rows<'a> {
    let per_page = PAGE_SIZE;
    let want = filter.page();
    let skip = (want - 1) * per_page;
    let mut rows = Vec::with_capacity(per_page);
    let mut matched = 0;
    let no_env: [Option<&EnvStatus>; 1] = [None];
    for app in apps {
        let envs: Vec<Option<&EnvStatus>> = if app.environments.is_empty() {
            no_env.to_vec()
        } else {
            app.environments.iter().map(Some).collect()
        };
        for env in envs {
            if filter.accepts(app, env) {
                if matched >= skip && rows.len() < per_page {
                    rows.push(Row { app, env });
                }
                matched += 1;
            }
        }
    }
    Rows {
        rows,
        matched,
        page: want,
        pages: matched.div_ceil(per_page).max(1),
    }
}

/// An environment on the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCounts {
    pub name: String,
    pub region: String,
    pub namespace: String,
    /// Applications by health (only healths that occur).
    pub by_health: BTreeMap<Health, usize>,
    pub out_of_sync: usize,
}

/// Every environment of the topology with its applications counted by
/// health (from `apps`, already limited to what the viewer may see).
pub fn env_counts(topology: &Topology, apps: &[AppStatus]) -> Vec<EnvCounts> {
    let mut out: BTreeMap<&str, EnvCounts> = topology
        .environments
        .iter()
        .map(|e| {
            let c = EnvCounts {
                name: e.metadata.name.clone(),
                region: e.spec.region.clone(),
                namespace: e.namespace().to_string(),
                by_health: BTreeMap::new(),
                out_of_sync: 0,
            };
            (e.metadata.name.as_str(), c)
        })
        .collect();
    for env in apps.iter().flat_map(|a| &a.environments) {
        // Feature-branch environments are not in the topology: counted
        // under their own name.
        let c = out.entry(&env.environment).or_insert_with(|| EnvCounts {
            name: env.environment.clone(),
            region: env.region.clone(),
            namespace: env.namespace.clone(),
            by_health: BTreeMap::new(),
            out_of_sync: 0,
        });
        *c.by_health.entry(env.health).or_default() += 1;
        if env.sync == SyncState::OutOfSync {
            c.out_of_sync += 1;
        }
    }
    out.into_values().collect()
}

/// The word shown for a health.
pub fn health_word(h: Health) -> &'static str {
    match h {
        Health::Healthy => "Healthy",
        Health::Progressing => "Progressing",
        Health::Degraded => "Degraded",
        Health::Missing => "Missing",
        Health::Unknown => "Unknown",
        Health::Suspended => "Suspended",
    }
}

/// Every health, in the order the overview's columns show them.
pub const HEALTHS: [Health; 6] = [
    Health::Healthy,
    Health::Progressing,
    Health::Degraded,
    Health::Suspended,
    Health::Missing,
    Health::Unknown,
];

/// The word shown for a sync state.
pub fn sync_word(s: SyncState) -> &'static str {
    match s {
        SyncState::Synced => "Synced",
        SyncState::OutOfSync => "OutOfSync",
        SyncState::Unknown => "Unknown",
    }
}

/// The first seven characters of a commit, or `-`.
pub fn short_rev(rev: Option<&str>) -> &str {
    rev.map(|r| r.get(..7).unwrap_or(r)).unwrap_or("-")
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
