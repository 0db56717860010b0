//! The UI's routes (all under `/ui`), the security headers every answer
//! carries, the same-origin rule for POSTs, the compiled-in assets, and the
//! page handlers. Sessions and login are in `routes/session.rs`, the
//! actions (sync, rollback, promote) in `routes/actions.rs`, the live stream in
//! `routes/events.rs`.

mod actions;
mod delivery;
mod events;
mod pod_logs;
mod pods;
mod session;
mod traffic;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::html::{self, Nav, Page, Url};
use crate::view::Filter;
use crate::{Error, Ui};

pub(crate) use session::Current;

const CSS: &str = include_str!("../assets/ui.css");
const JS: &str = include_str!("../assets/ui.js");

/// Content-Security-Policy of every UI answer: only the UI's own script and
/// stylesheet, no inline code, no framing, forms post to the UI only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's routes, to merge into the API listener's router.
pub fn router(ui: Ui) -> Router {
    Router::new()
        .route("/ui", get(overview))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/apps", get(apps))
        .route("/ui/apps/{name}", get(app))
        .route("/ui/apps/{name}/sync", post(actions::sync))
        .route("/ui/apps/{name}/rollback", post(actions::rollback))
        .route("/ui/apps/{name}/promote", post(actions::promote))
        .route("/ui/apps/{name}/diff", get(app_diff))
        .route("/ui/serverless", get(serverless))
        .route("/ui/pipelines", get(delivery::pipelines))
        .route("/ui/pipelines/runs/{id}", get(delivery::run))
        .route("/ui/registry", get(delivery::registry))
        .route("/ui/registry/repo", get(delivery::repository))
        .route("/ui/traffic", get(traffic::page_handler))
        .route("/ui/pods", get(pods::list))
        .route("/ui/pods/{ns}/{pod}", get(pods::show))
        .route("/ui/pods/{ns}/{pod}/logs", get(pod_logs::follow))
        .route("/ui/pods/{ns}/{pod}/exec", post(pods::exec))
        .route("/ui/traffic/live", get(traffic::live))
        .route("/ui/events", get(events::events))
        .route("/ui/static/{file}", get(asset))
        .layer(middleware::from_fn(same_origin_posts))
        .layer(middleware::from_fn(security_headers))
        .with_state(ui)
}

/// A POST must come from the UI's own origin (`Origin` and
/// `Sec-Fetch-Site`, as the API's guard decides for `/api/v1`).
async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST
        && let Err(e) = ferry_api::guard::check_same_origin(&req)
    {
        return error_page(Error::CrossOrigin(e.message));
    }
    next.run(req).await
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "ui.css" => (CSS, "text/css; charset=utf-8"),
        "ui.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return error_page(Error::NotFound(format!("no asset `{file}`"))),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A whole page for `who`, following the live stream `live`.
pub(crate) fn page(
    ui: &Ui,
    who: &Current,
    title: &str,
    nav: Nav,
    live: Option<String>,
    body: &str,
) -> Response {
    let role = who.identity.role.as_str();
    let doc = html::layout(
        &Page {
            title,
            region: &ui.cfg().region,
            nav,
            viewer: Some(html::Viewer {
                name: &who.identity.name,
                role,
                csrf: &who.csrf,
            }),
            live,
        },
        body,
    );
    Html(doc).into_response()
}

/// An error's page, with its status (and `Retry-After` when busy).
pub(crate) fn error_page(e: Error) -> Response {
    let status = e.status();
    let retry = match &e {
        Error::Delivery(ferry_delivery::Error::DiffBusy { retry_after, .. }) => {
            Some(retry_after.as_secs().max(1))
        }
        _ => None,
    };
    let doc = html::layout(
        &Page {
            title: status.canonical_reason().unwrap_or("error"),
            region: "",
            nav: Nav::None,
            viewer: None,
            live: None,
        },
        &crate::pages::error(status.as_u16(), &e.to_string()),
    );
    let mut resp = (status, Html(doc)).into_response();
    if let Some(secs) = retry {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        error_page(self)
    }
}

/// The live stream's URL for a page, starting after the change log's
/// current number (so nothing between render and connect is lost).
fn live_url(ui: &Ui, query: &str) -> String {
    let since = ui.inner.changes.id(ui.inner.changes.seq());
    format!("/ui/events?{query}&since={}", Url(&since))
}

async fn overview(State(ui): State<Ui>, who: Current) -> Response {
    let live = live_url(&ui, "view=overview");
    let body = ui.overview_body(&who.identity);
    page(&ui, &who, "Overview", Nav::Overview, Some(live), &body)
}

async fn apps(State(ui): State<Ui>, who: Current, Query(filter): Query<Filter>) -> Response {
    let live = live_url(&ui, &format!("view=list&{}", filter.query(filter.page())));
    let body = ui.list_body(&who.identity, &filter);
    page(&ui, &who, "Applications", Nav::Apps, Some(live), &body)
}

async fn serverless(State(ui): State<Ui>, who: Current) -> Response {
    let live = live_url(&ui, "view=serverless");
    let body = ui.serverless_body(&who.identity);
    page(&ui, &who, "Serverless", Nav::Serverless, Some(live), &body)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EnvQuery {
    env: Option<String>,
}

async fn app(
    State(ui): State<Ui>,
    who: Current,
    Path(name): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Response, Error> {
    let env = q.env.filter(|e| !e.is_empty());
    let view = ui.app_view(&who.identity, &name, env.as_deref(), &who.csrf)?;
    let mut query = format!("view=app&app={}", Url(&name));
    if let Some(e) = &env {
        query.push_str(&format!("&env={}", Url(e)));
    }
    let live = live_url(&ui, &query);
    Ok(page(&ui, &who, &name, Nav::Apps, Some(live), &view.body))
}

/// The live-versus-desired diff (`Engine::live_diff_limited`, as
/// `GET /api/v1/apps/{name}/diff` answers it: a result a few seconds old
/// reused, a bounded number of dry runs at once, 429 when none frees in
/// time), for whoever that route admits.
async fn app_diff(
    State(ui): State<Ui>,
    who: Current,
    Path(name): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Response, Error> {
    let env = q.env.filter(|e| !e.is_empty());
    ui.allowed(
        &who.identity,
        &Method::GET,
        &format!("/api/v1/apps/{name}/diff"),
    )?;
    let d = ui
        .cfg()
        .engine
        .live_diff_limited(&name, env.as_deref())
        .await?;
    let body = crate::pages::diff::page(&name, env.as_deref(), &d.environments, d.age);
    let title = format!("{name}: diff");
    Ok(page(&ui, &who, &title, Nav::Apps, None, &body))
}

/// 303 to `to` (after a POST, so a reload does not post again).
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
