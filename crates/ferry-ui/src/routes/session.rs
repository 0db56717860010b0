//! Logging in and out, and [`Current`]: the session a request belongs to.
//!
//! A request without a live session (no cookie, an unknown or expired one,
//! or one whose token was revoked or expired since) is sent to the login
//! page with a 303, remembering where it was going. Service-account tokens
//! (a pod's) cannot open sessions. Logins, logouts and refusals go to the
//! region's audit log like API calls.

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use ferry_api::{ConnInfo, Identity};
use ferry_auth::audit::{Entry, rfc3339_now};
use ferry_core::sync::MutexExt;
use serde::Deserialize;

use super::{error_page, see_other};
use crate::html::{self, Nav, Page, Url};
use crate::{Error, Ui, cookie, csrf, pages, session};

/// The logged-in caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    /// The session's identifier (from the cookie).
    pub id: String,
    /// The session's token, as the store knows it now.
    pub identity: Identity,
    pub csrf: String,
}

impl Ui {
    /// The live session of `headers`' cookie, if any.
    pub(crate) fn current(&self, headers: &HeaderMap) -> Option<Current> {
        let id = cookie::session_id(headers)?;
        let now = ferry_auth::now();
        let mut sessions = self.inner.sessions.lock_or_recover();
        let s = sessions.touch(id, now)?;
        let Some(identity) = self.cfg().auth.store().identity(&s.token, now) else {
            // The token was revoked or expired: so is the session.
            sessions.remove_token(&s.token);
            return None;
        };
        Some(Current {
            id: id.to_string(),
            identity,
            csrf: s.csrf,
        })
    }

    /// Whether session `id` is still live (without restarting its clock).
    pub(crate) fn alive(&self, id: &str) -> bool {
        self.inner
            .sessions
            .lock_or_recover()
            .alive(id, ferry_auth::now())
    }

    /// Records a UI action in the region's audit log.
    pub(crate) fn audit(&self, who: Option<&Identity>, verb: &str, path: &str, status: StatusCode) {
        let outcome = match status.as_u16() {
            401 => "unauthenticated",
            403 => "forbidden",
            _ => "allowed",
        };
        self.cfg().auth.audit().record(&Entry {
            time: rfc3339_now(),
            identity: who.map_or("-", |w| w.name.as_str()),
            role: who.map(|w| w.role.as_str()),
            verb,
            object: path,
            outcome,
            status: status.as_u16(),
        });
    }
}

impl FromRequestParts<Ui> for Current {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Self::Rejection> {
        if let Some(c) = ui.current(&parts.headers) {
            return Ok(c);
        }
        let next = match parts.method {
            axum::http::Method::GET => parts
                .uri
                .path_and_query()
                .map_or("/ui", |p| p.as_str())
                .to_string(),
            _ => "/ui".to_string(),
        };
        Err(see_other(&format!("/ui/login?next={}", Url(&next))))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn login_doc(ui: &Ui, next: &str, error: Option<&str>) -> Html<String> {
    Html(html::layout(
        &Page {
            title: "Log in",
            region: &ui.cfg().region,
            nav: Nav::None,
            viewer: None,
            live: None,
        },
        &pages::login::login(&ui.cfg().region, next, error),
    ))
}

pub(crate) async fn login_page(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = csrf::safe_next(q.next.as_deref());
    if ui.current(&headers).is_some() {
        return see_other(next);
    }
    login_doc(&ui, next, None).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

pub(crate) async fn login(
    State(ui): State<Ui>,
    conn: Option<axum::Extension<ConnInfo>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = csrf::safe_next(f.next.as_deref()).to_string();
    let now = ferry_auth::now();
    let who = ui.cfg().auth.store().verify(f.token.trim(), now);
    let who = match who {
        Some(w) if w.service_account.is_none() => w,
        Some(w) => {
            ui.audit(Some(&w), "POST", "/ui/login", StatusCode::FORBIDDEN);
            let msg = "a pod's service-account token cannot open a UI session";
            return (StatusCode::FORBIDDEN, login_doc(&ui, &next, Some(msg))).into_response();
        }
        None => {
            ui.audit(None, "POST", "/ui/login", StatusCode::UNAUTHORIZED);
            let msg = "that token is not valid (unknown, revoked or expired)";
            return (StatusCode::UNAUTHORIZED, login_doc(&ui, &next, Some(msg))).into_response();
        }
    };
    let (id, token) = match (session::random_id(), session::random_id()) {
        (Ok(id), Ok(token)) => (id, token),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    let limits = {
        let mut sessions = ui.inner.sessions.lock_or_recover();
        sessions.create(&id, &who.name, token, now);
        sessions.limits()
    };
    ui.audit(Some(&who), "POST", "/ui/login", StatusCode::SEE_OTHER);
    tracing::info!(token = %who.name, "UI session opened");
    let secure = conn.is_some_and(|c| c.tls);
    let mut resp = see_other(&next);
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie::set(&id, secure, limits.absolute),
    );
    resp
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

pub(crate) async fn logout(
    State(ui): State<Ui>,
    who: Current,
    conn: Option<axum::Extension<ConnInfo>>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf::matches(&who.csrf, f.csrf.as_deref()) {
        ui.audit(
            Some(&who.identity),
            "POST",
            "/ui/logout",
            StatusCode::FORBIDDEN,
        );
        return error_page(Error::Csrf);
    }
    ui.inner.sessions.lock_or_recover().remove(&who.id);
    ui.audit(
        Some(&who.identity),
        "POST",
        "/ui/logout",
        StatusCode::SEE_OTHER,
    );
    let mut resp = see_other("/ui/login");
    let secure = conn.is_some_and(|c| c.tls);
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie::clear(secure));
    resp
}
