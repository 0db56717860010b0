//! The delivery pages' handlers: `GET /ui/pipelines` (runs, live),
//! `GET /ui/pipelines/runs/{id}` (a run's steps and logs, live),
//! `GET /ui/registry` (repositories, live) and `GET /ui/registry/repo?name=`
//! (a repository's tags, live). Without a session each sends to login, as every
//! UI page does (the `Current` extractor).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{Current, live_url, page};
use crate::html::{Nav, Url};
use crate::pages::pipelines::{self, RunFilter};
use crate::{Error, Ui};

pub(crate) async fn pipelines(
    State(ui): State<Ui>,
    who: Current,
    Query(filter): Query<RunFilter>,
) -> Response {
    let query = format!(
        "view=pipelines&pipeline={}&page={}",
        Url(&filter.pipeline),
        filter.page()
    );
    let live = live_url(&ui, &query);
    let body = ui.pipelines_body(&who.identity, &filter);
    page(&ui, &who, "Pipelines", Nav::Pipelines, Some(live), &body)
}

pub(crate) async fn run(
    State(ui): State<Ui>,
    who: Current,
    Path(id): Path<u64>,
) -> Result<Response, Error> {
    let run = ui.run(&who.identity, id)?;
    let live = live_url(&ui, &format!("view=run&run={id}"));
    let title = format!("Run #{id}");
    let body = pipelines::run_page(&run);
    Ok(page(&ui, &who, &title, Nav::Pipelines, Some(live), &body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RegistryQuery {
    name: String,
    page: String,
}

impl RegistryQuery {
    fn page(&self) -> usize {
        self.page.trim().parse::<usize>().unwrap_or(1).max(1)
    }
}

pub(crate) async fn registry(
    State(ui): State<Ui>,
    who: Current,
    Query(q): Query<RegistryQuery>,
) -> Result<Response, Error> {
    let live = live_url(&ui, &format!("view=registry&page={}", q.page()));
    let body = ui.registry_body(&who.identity, q.page()).await?;
    Ok(page(
        &ui,
        &who,
        "Registry",
        Nav::Registry,
        Some(live),
        &body,
    ))
}

pub(crate) async fn repository(
    State(ui): State<Ui>,
    who: Current,
    Query(q): Query<RegistryQuery>,
) -> Result<Response, Error> {
    let query = format!("view=repo&name={}&page={}", Url(&q.name), q.page());
    let live = live_url(&ui, &query);
    let body = ui.repository_body(&who.identity, &q.name, q.page()).await?;
    Ok(page(&ui, &who, &q.name, Nav::Registry, Some(live), &body))
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
