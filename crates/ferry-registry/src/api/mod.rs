//! The HTTP edge: one catch-all `/v2/{*rest}` route whose path is parsed by
//! [`crate::names::parse_route`], checked against the caller's token, sent
//! to the handler for route and method, and counted in the metrics. Errors
//! render as OCI error JSON ([`crate::Error`]).

pub(crate) mod blobs;
mod listing;
mod manifests;
pub(crate) mod uploads;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::TryStreamExt;

use crate::Registry;
use crate::auth::Access;
use crate::error::{Error, Result};
use crate::names::{Route, parse_route};
use crate::storage::ByteStream;

pub(crate) fn router(reg: Registry) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .route("/token", get(crate::auth::token_endpoint))
        .with_state(reg)
}

async fn dispatch(State(reg): State<Registry>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/v2").unwrap_or("").to_string();
    let (label, mut resp) = match parse_route(&rest) {
        Ok(Some(route)) => {
            let label = route.label();
            let resp = match handle(&reg, route, req).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            (label, resp)
        }
        Ok(None) => (
            "unknown",
            Error::NameUnknown(format!("no such endpoint {path}")).into_response(),
        ),
        Err(e) => ("invalid", e.into_response()),
    };
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    reg.inner
        .metrics
        .request(label, method.as_str(), resp.status().as_u16());
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "registry request");
    resp
}

async fn handle(reg: &Registry, route: Route, req: Request) -> Result<Response> {
    let method = req.method().clone();
    let query = Query::parse(req.uri().query());
    let needed = needed_access(&route, &method, &query);
    // The catalog lists every repository: anonymous tokens do not see it.
    let named = matches!(route, Route::Catalog);
    // A challenge names the scheme this connection speaks: the plain
    // loopback twin of a TLS listener must not send clients to https.
    let tls = req.extensions().get::<ferry_api::ConnInfo>().map(|c| c.tls);
    reg.authorize(req.headers(), tls, &needed, named)?;
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let head = method == Method::HEAD;
    use Route::*;
    match (route, method.clone()) {
        (Base, Method::GET | Method::HEAD) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response()),
        (Catalog, Method::GET) => listing::catalog(reg, &query).await,
        (Tags { name }, Method::GET) => listing::tags(reg, &name, &query).await,
        (Referrers { name, digest }, Method::GET) => {
            listing::referrers(reg, &name, &digest, &query).await
        }
        (Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(reg, &name, &digest, &headers, head).await
        }
        (Blob { name, digest }, Method::DELETE) => blobs::delete(reg, &name, &digest).await,
        (Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(reg, &name, &reference, head).await
        }
        (Manifest { name, reference }, Method::PUT) => {
            manifests::put(reg, &name, &reference, &query, &headers, body).await
        }
        (Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(reg, &name, &reference).await
        }
        (UploadStart { name }, Method::POST) => {
            uploads::start(reg, &name, &query, &headers, body).await
        }
        (Upload { name, id }, Method::GET) => uploads::status(reg, &name, &id).await,
        (Upload { name, id }, Method::PATCH) => {
            uploads::patch(reg, &name, &id, &headers, body).await
        }
        (Upload { name, id }, Method::PUT) => {
            uploads::finish(reg, &name, &id, &query, &headers, body).await
        }
        (Upload { name, id }, Method::DELETE) => uploads::cancel(reg, &name, &id).await,
        (_, m) => Err(Error::Unsupported(format!("method {m} on this endpoint"))),
    }
}

/// The access a request needs: `(repository, action)` pairs; an empty list
/// means any authenticated caller (or anonymous pull) may proceed.
fn needed_access(route: &Route, method: &Method, query: &Query) -> Vec<Access> {
    use ferry_core::registry_spec::RegistryAction as A;
    let Some(name) = route.name() else {
        return Vec::new();
    };
    let action = match *method {
        Method::GET | Method::HEAD => A::Pull,
        Method::DELETE if !matches!(route, Route::Upload { .. }) => A::Delete,
        _ => A::Push,
    };
    let mut out = vec![Access {
        repository: name.to_string(),
        action,
    }];
    if action == A::Push {
        // Pushing needs to read back what it pushed (HEAD checks, mounts).
        out.push(Access {
            repository: name.to_string(),
            action: A::Pull,
        });
        if let Some(from) = query.get("from") {
            out.push(Access {
                repository: from.to_string(),
                action: A::Pull,
            });
        }
    }
    out
}

/// Decoded query parameters: `get` gives a key's first value, `all` every one.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            q.map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
                .unwrap_or_default(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key, in request order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The request body as a stream of byte chunks, counted as bytes received.
pub(crate) fn body_stream(reg: &Registry, body: Body) -> ByteStream {
    let metrics = reg.inner.metrics.clone();
    Box::pin(
        body.into_data_stream()
            .map_ok(move |b| {
                metrics.received(b.len() as u64);
                b
            })
            .map_err(|e| Error::Body(e.to_string())),
    )
}

/// Sets a header from a string that is known to be a valid value.
pub(crate) fn set(headers: &mut HeaderMap, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        headers.insert(name, v);
    }
}

/// Checks that `name` exists; tags and manifests of a missing repository
/// answer `NAME_UNKNOWN`.
pub(crate) async fn require_repo(reg: &Registry, name: &str) -> Result<()> {
    if reg.inner.repos.exists(name).await? {
        Ok(())
    } else {
        Err(Error::NameUnknown(name.to_string()))
    }
}
