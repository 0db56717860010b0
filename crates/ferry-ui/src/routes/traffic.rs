//! `GET /ui/traffic`, the region gateway's routes with live charts (the
//! tables replaced through the live stream when the rules change), and
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

    /// The route tables as the live stream replaces them.
    pub(crate) fn traffic_fragment(&self, who: &ferry_api::Identity) -> Result<String, Error> {
        let rules = self.traffic_rules(who)?;
        Ok(pages::traffic::routes_div(
            &rules,
            traffic::now(),
            self.traffic_every(),
        ))
    }

    fn traffic_every(&self) -> u64 {
        self.cfg()
            .traffic
            .as_ref()
            .map_or(10, |t| t.every.as_secs().max(1))
    }
}

pub(crate) async fn page_handler(State(ui): State<Ui>, who: Current) -> Result<Response, Error> {
    let live = super::live_url(&ui, "view=traffic");
    let rules = ui.traffic_rules(&who.identity)?;
    let body = pages::traffic::traffic(&rules, traffic::now(), ui.traffic_every());
    Ok(page(&ui, &who, "Traffic", Nav::Traffic, Some(live), &body))
}

pub(crate) async fn live(State(ui): State<Ui>, who: Current) -> Result<Response, Error> {
    let rules = ui.traffic_rules(&who.identity)?;
    Ok(Json(pages::traffic::patches(&rules, traffic::now())).into_response())
}

#[cfg(test)]
mod tests {
    // The traffic routes through the whole router: a real route table and
    // real gateway metrics sampled by the UI's own sampler task.
    use std::time::Duration;

    use axum::http::StatusCode;
    use ferry_api::Role;
    use ferry_auth::NewToken;
    use ferry_gateway::metrics::{Metrics, RequestKey, RequestSample};

    use crate::routes::tests::World;

    /// A world whose UI reads `metrics` and the test table, sampling every
    /// 100 ms.
    fn world(metrics: &Metrics) -> World {
        let mut w = World::new();
        let mut cfg = w.ui.cfg().clone();
        let mut source = crate::pages::traffic::tests::source(metrics);
        source.every = Duration::from_millis(100);
        cfg.traffic = Some(source);
        w.ui = crate::Ui::new(cfg).unwrap();
        w
    }

    #[tokio::test]
    async fn the_traffic_page_shows_routes_and_live_numbers_from_the_gateway() {
        let metrics = Metrics::default();
        let w = world(&metrics);
        w.ui.start(tokio_util::sync::CancellationToken::new());
        let (cookie, _) = w.login(&w.token("vera", Role::Viewer)).await;
        let (status, _, page) = w.get("/ui/traffic", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<a href=\"/ui/traffic\" aria-current=\"page\">Traffic</a>"));
        assert!(page.contains("<code>shop.example</code>"), "{page}");
        assert!(
            page.contains("api.shop[v1] 90%, api.shop[v2] 10%"),
            "{page}"
        );
        assert!(
            page.contains("data-every=\"1\""),
            "the interval, at least 1 s"
        );

        let rule = "VirtualService/shop/api/0";
        let key = RequestKey {
            direction: "mesh",
            route: rule,
            service: Some(("api", "shop")),
            subset: "v2",
            status: 200,
        };
        let id = crate::pages::traffic::dest_id(&crate::traffic::scrape::DestKey {
            route: rule.into(),
            service: "api.shop".into(),
            subset: "v2".into(),
        });
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "{rule} is the rule's metric name: {page}"
        );
        // Requests keep arriving until the sampler has seen them.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let block = loop {
            let sample = RequestSample {
                seconds: 0.01,
                request_bytes: 0,
                response_bytes: 0,
            };
            metrics.record_request(&key, sample);
            let (status, h, body) = w.get("/ui/traffic/live", Some(&cookie)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(h[axum::http::header::CONTENT_TYPE], "application/json");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let block = v["patches"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id.as_str())
                .map(|p| p["html"].as_str().unwrap().to_string())
                .unwrap();
            if block.contains("<span class=\"num\">100.0</span> %") {
                break block;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no sample within 10 s: {block}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(block.contains("<path d=\"M"), "a line is drawn: {block}");
    }

    #[tokio::test]
    async fn a_token_limited_to_namespaces_cannot_see_the_route_table() {
        let w = world(&Metrics::default());
        let new = NewToken {
            name: "nina".into(),
            role: Role::Admin,
            namespaces: vec!["shop".into()],
            apps: vec![],
            ttl: None,
        };
        let token = w.auth.store().create(new, ferry_auth::now()).unwrap().0;
        let (cookie, _) = w.login(&token).await;
        for path in ["/ui/traffic", "/ui/traffic/live"] {
            let (status, _, _) = w.get(path, Some(&cookie)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
    }
}
