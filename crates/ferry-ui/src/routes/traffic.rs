//! `GET /ui/traffic`, the region gateway's routes with live charts, and
//! `GET /ui/traffic/live`, the small JSON the page fetches every sampling
//! interval to replace each destination's block in place. Both need what
//! `GET /api/v1/routes` needs (the route table spans namespaces).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::{Current, page};
use crate::html::Nav;
use crate::traffic::{self, RuleView};
use crate::{Error, Ui, pages};

impl Ui {
    /// The gateway's rules with their samples (none without a gateway).
    pub(crate) fn traffic_rules(&self, who: &ferry_api::Identity) -> Result<Vec<RuleView>, Error> {
        self.allowed(who, &Method::GET, "/api/v1/routes")?;
        let (Some(source), Some(sampler)) = (&self.cfg().traffic, &self.inner.sampler) else {
            return Ok(vec![]);
        };
        let table = (source.table)();
        Ok(traffic::rules(&table, |k| sampler.series(k)))
    }

    fn traffic_every(&self) -> u64 {
        self.cfg()
            .traffic
            .as_ref()
            .map_or(10, |t| t.every.as_secs().max(1))
    }
}

pub(crate) async fn page_handler(State(ui): State<Ui>, who: Current) -> Result<Response, Error> {
    let rules = ui.traffic_rules(&who.identity)?;
    let body = pages::traffic::traffic(&rules, traffic::now(), ui.traffic_every());
    Ok(page(&ui, &who, "Traffic", Nav::Traffic, None, &body))
}

pub(crate) async fn live(State(ui): State<Ui>, who: Current) -> Result<Response, Error> {
    let rules = ui.traffic_rules(&who.identity)?;
    Ok(Json(pages::traffic::patches(&rules, traffic::now())).into_response())
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
