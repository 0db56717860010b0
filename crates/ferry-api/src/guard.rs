//! The browser guard, a middleware over every route of the API: what a web
//! page the operator opens must not be able to do to a listener it can reach.
//!
//! - **Host** (DNS rebinding): the `Host` header (or the HTTP/2 authority)
//!   must name this listener: `localhost`, a loopback address, the address
//!   the connection arrived on, the bound address, or a configured hostname
//!   (`spec.tls.hostnames`); anything else is 421. A request without a host
//!   (HTTP/1.0) is no browser's and passes.
//! - **Cross-origin** (on `/api/v1`): an `Origin` header must be this
//!   listener's own origin, and `Sec-Fetch-Site` must be `same-origin` or
//!   `none`; otherwise 403. The API never sends CORS headers, so a page can
//!   neither read answers nor preflight its way in.
//! - **Content type** (on `/api/v1`): POST, PUT, PATCH and DELETE need
//!   `Content-Type: application/json` (415 otherwise), which no HTML form
//!   can send.
//!
//! The git webhook (`/api/v1/hooks/git`) is exempt from all three: git hosts
//! call it by whatever name they were given, and it checks its own
//! signature.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::serve::ConnInfo;
use crate::{ApiError, ErrorCode};

/// The path of the git webhook, which authenticates by signature.
pub const WEBHOOK_PATH: &str = "/api/v1/hooks/git";

/// The names one API listener answers to.
#[derive(Debug, Clone)]
pub struct ListenerNames {
    names: Arc<Vec<String>>,
}

impl Default for ListenerNames {
    /// A listener on 127.0.0.1 with no extra names.
    fn default() -> Self {
        Self::new(IpAddr::from([127, 0, 0, 1]), &[])
    }
}

impl ListenerNames {
    /// `localhost`, the loopback addresses, `bound` (unless it is the
    /// unspecified address) and every name in `hostnames`.
    pub fn new(bound: IpAddr, hostnames: &[String]) -> Self {
        let mut names = vec!["localhost".to_string()];
        if !bound.is_unspecified() {
            names.push(bound.to_canonical().to_string());
        }
        names.extend(hostnames.iter().map(|h| normalise(h)));
        Self {
            names: Arc::new(names),
        }
    }

    /// Whether `host` (no port, no brackets) names this listener when the
    /// connection arrived on `local`.
    fn allows(&self, host: &str, local: Option<IpAddr>) -> bool {
        let host = normalise(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            if ip.is_loopback() || local.is_some_and(|l| l.to_canonical() == ip) {
                return true;
            }
        }
        self.names.contains(&host)
    }
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The middleware: refuses what the module documentation lists.
pub(crate) async fn guard(
    State(names): State<ListenerNames>,
    req: Request,
    next: Next,
) -> Response {
    match check(&names, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::info!(path = %req.uri().path(), method = %req.method(), reason = %e.message, "refused by the browser guard");
            e.into_response()
        }
    }
}

fn check(names: &ListenerNames, req: &Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    if path == WEBHOOK_PATH {
        return Ok(());
    }
    let conn = req.extensions().get::<ConnInfo>().copied();
    let authority = authority(req);
    if let Some(a) = &authority {
        let (host, _) = split_host_port(a);
        if !names.allows(host, conn.map(|c| c.local.ip())) {
            return Err(ApiError::new(
                ErrorCode::Misdirected,
                format!(
                    "host `{host}` is not a name of this API listener; if clients reach it by that name, add it to spec.tls.hostnames of the region"
                ),
            ));
        }
    }
    if path != "/api/v1" && !path.starts_with("/api/v1/") {
        return Ok(());
    }
    let scheme = if conn.is_some_and(|c| c.tls) {
        "https"
    } else {
        "http"
    };
    same_origin(req.headers(), scheme, authority.as_deref())?;
    if matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !is_json(req.headers())
        && !is_upgrade(req.headers())
    {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "{} needs `Content-Type: application/json` (send a JSON body, `{{}}` when there is nothing to say)",
                req.method()
            ),
        ));
    }
    Ok(())
}

/// The cross-origin rule of `/api/v1` for any request: an `Origin` must be
/// this listener's own and `Sec-Fetch-Site` same-origin or none. The web UI
/// applies it to its form posts (beside its CSRF token), which the
/// content-type rule of `/api/v1` would refuse.
pub fn check_same_origin(req: &Request) -> Result<(), ApiError> {
    let tls = req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls);
    let scheme = if tls { "https" } else { "http" };
    same_origin(req.headers(), scheme, authority(req).as_deref())
}

/// `Host`, or the URI's authority (HTTP/2 `:authority`).
fn authority(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
}

/// `("::1", Some(7070))` from `[::1]:7070`; `("a.b", None)` from `a.b`.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':'));
    }
    match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

fn same_origin(headers: &HeaderMap, scheme: &str, authority: Option<&str>) -> Result<(), ApiError> {
    let forbidden = |m: String| Err(ApiError::new(ErrorCode::Forbidden, m));
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or_default();
        if !matches!(site, "same-origin" | "none") {
            return forbidden(format!(
                "cross-origin request refused (Sec-Fetch-Site: {site}); the API serves no browser pages but its own origin"
            ));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let own = authority.map(|a| origin_of(scheme, a));
    let theirs = origin
        .split_once("://")
        .map(|(s, a)| origin_of(&s.to_ascii_lowercase(), a));
    if own.is_some() && own == theirs {
        return Ok(());
    }
    forbidden(format!(
        "cross-origin request refused (Origin: {origin}); the API sends no CORS headers"
    ))
}

/// `(scheme, host, port)` with the scheme's default port filled in.
fn origin_of(scheme: &str, authority: &str) -> (String, String, String) {
    let (host, port) = split_host_port(authority);
    let default = if scheme == "https" { "443" } else { "80" };
    (
        scheme.to_string(),
        normalise(host),
        port.unwrap_or(default).to_string(),
    )
}

/// A connection upgrade (port-forward's tunnel) carries no body to type,
/// and browsers cannot send `Upgrade` or `Connection` from a page (they are
/// forbidden request headers), so it is no cross-site form.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
