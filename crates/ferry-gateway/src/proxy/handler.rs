//! The request pipeline: find the rule (virtual host or mesh Service, then
//! first match), answer locally (CORS preflight, directResponse, redirect,
//! injected abort) or forward (delay, weighted destination, rewrites and
//! header operations, mirrors, retries/timeouts, WebSocket upgrade; the
//! upstream request itself is built in `outbound`), then record metrics and
//! one JSON-able access-log event (`access`).

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::Body as _;

use super::Inner;
use super::access::{Seen, fault_abort, fault_delay, record};
use super::downstream::RequestBody;
use super::h1::fields::{self, RawFields};
use super::outbound::{collect, mirror, prepare};
use super::respond::{self, text};
use super::types::{Body, ConnState, Direction};
use super::upgrade::{self, DownstreamUpgrade};
use super::upstream::{Answer, Failure};
use crate::select::{self, RequestView};
use crate::table::{
    Action, Destination, Forward, RetryPolicy, RouteTable, Rule, WeightedDestination,
};

/// Serves one request (for hyper's server: every field in the response's
/// `HeaderMap`).
pub async fn handle(
    gw: Arc<Inner>,
    conn: Arc<ConnState>,
    req: Request<RequestBody>,
) -> Result<Response<Body>, Infallible> {
    let (mut resp, raw) = handle_raw(gw, conn, req).await;
    fields::materialize(&mut resp, raw);
    Ok(resp)
}

/// Serves one request; an upstream's pass-through fields (`h1::fields`)
/// come back next to the response, for ferry's HTTP/1.1 server to write.
#[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
pub fn handle_raw(
    gw: Arc<Inner>,
    conn: Arc<ConnState>,
    req: Request<RequestBody>,
) -> impl Future<Output = (Response<Body>, Option<RawFields>)> {
    async move {
        let start = Instant::now();
        // The access log's fields are gathered only when someone listens.
        let log = tracing::enabled!(target: "ferry::access", tracing::Level::INFO);
        let logged = log.then(|| (req.method().clone(), req.uri().path().to_string()));
        // The Host value is shared, not copied (HTTP/2 requests carry the
        // authority instead).
        let host_value = req
            .headers()
            .get(header::HOST)
            .filter(|h| h.to_str().is_ok())
            .cloned()
            .or_else(|| {
                req.uri()
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
        let host_raw = host_value
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let req_bytes = req.body().size_hint().exact().unwrap_or(0);
        let table = gw.table.load_full();
        // A mesh Service without rules of its own gets the default one
        // (split by a canary's overlay when one runs; on the heap: a rule is
        // large, and this future holds it while waiting).
        let fallback = match &conn.direction {
            Direction::Mesh { service, port, .. } if !table.mesh.contains_key(service) => {
                crate::canary::fallback_rules(&table, default_mesh_rule(service, *port))
            }
            _ => Vec::new(),
        };
        let routed = route(gw.clone(), conn.clone(), req, host_raw, &table, &fallback).await;
        let seen = Seen {
            start,
            request_bytes: req_bytes,
            logged,
            authority: host_raw,
        };
        record(&gw, &conn, &routed, seen);
        (routed.response, routed.raw)
    }
}

/// What [`route`] did, for the client and for the metrics and access log.
pub(super) struct Routed<'a> {
    pub response: Response<Body>,
    /// The upstream's pass-through fields (`h1::fields`), if any.
    pub raw: Option<RawFields>,
    /// The matched rule's name ("" when none matched).
    pub route: &'a str,
    /// The destination chosen, once the rule forwards.
    pub dest: Option<&'a Destination>,
    pub retries: u32,
}

impl<'a> Routed<'a> {
    /// An answer made here, not by an upstream.
    fn local(response: Response<Body>, route: &'a str, dest: Option<&'a Destination>) -> Self {
        Self {
            response,
            raw: None,
            route,
            dest,
            retries: 0,
        }
    }
}

/// Routes one request: selects the rule, answers locally (CORS preflight,
/// directResponse, redirect, injected abort) or forwards to a weighted
/// destination (delay, body, mirrors, retries and timeouts), then applies
/// the rule's response operations.
#[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
fn route<'a>(
    gw: Arc<Inner>,
    conn: Arc<ConnState>,
    mut req: Request<RequestBody>,
    host_raw: &str,
    table: &'a Arc<RouteTable>,
    fallback: &'a [Rule],
) -> impl Future<Output = Routed<'a>> {
    async move {
        let host = select::normalize_host(host_raw);
        let (rule, matched) = match select_rule(table, fallback, &conn, &req, &host) {
            Ok(x) => x,
            Err(r) => return Routed::local(r, "", None),
        };
        let name = rule.name.as_str();
        if let Some(cors) = &rule.cors
            && let Some(r) = respond::preflight(cors, req.method(), req.headers())
        {
            return Routed::local(r, name, None);
        }
        let finish = Finish::new(rule, &req);
        let fwd = match forward_or_answer(rule, &conn, &req, &host, host_raw, matched.as_deref()) {
            Ok(f) => f,
            Err(r) => return Routed::local(finish.local(r, None), name, None),
        };
        let Some(wd) = select::pick_weighted(&fwd.destinations, fastrand::f64()) else {
            return Routed::local(text(500, "no destination has weight\n"), name, None);
        };
        let dest = Some(&wd.dest);
        // Faults (Istio: with faults, retries and timeouts are off).
        let canary = crate::canary::canary_delay(table, &conn.direction);
        if let Some(delay) = fault_delay(&gw, name, fwd, canary) {
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = fault_abort(&gw, name, fwd) {
            let r = finish.local(text(status, "fault filter abort"), Some(wd));
            return Routed::local(r, name, dest);
        }
        let on_upgrade = DownstreamUpgrade::of(&mut req);
        let (head, body) =
            match prepare(&gw, &conn, req, rule, fwd, wd, matched.as_deref(), host_raw) {
                Ok(x) => x,
                Err(r) => return Routed::local(r, name, dest),
            };
        let body = match body {
            Ok(b) => b,
            // Boxed: rare, and this future stays small without it.
            Err(b) => match Box::pin(collect(b)).await {
                Ok(b) => b,
                Err(r) => return Routed::local(r, name, dest),
            },
        };
        mirror(&gw, table, name, fwd, &head, &body, &conn.info);
        let (retry, timeout) = if fwd.fault.is_set() {
            (RetryPolicy::default(), None)
        } else {
            (fwd.retries.clone(), fwd.timeout)
        };
        let client = Some(&conn.info);
        let answer = Box::pin(gw.send(table, &wd.dest, head, body, &retry, timeout, client)).await;
        answered(answer, on_upgrade, &finish, wd, name)
    }
}

/// Which rule answers: among the virtual host's rules (north-south) or the
/// mesh Service's (else `fallback`), the first that matches; for an Ingress
/// or HTTPRoute sending to a Service with mesh rules, the first of those
/// that matches (as for an ingress controller inside the mesh). With the
/// rule comes the path its match consumed (for prefix rewrites); without
/// one, the `404` to send.
fn select_rule<'a>(
    table: &'a RouteTable,
    fallback: &'a [Rule],
    conn: &ConnState,
    req: &Request<RequestBody>,
    host: &str,
) -> Result<(&'a Rule, Option<Cow<'a, str>>), Response<Body>> {
    let rules: &'a [Rule] = match &conn.direction {
        Direction::North => match select::virtual_host(table, host) {
            Some(v) => &v.rules,
            None => return Err(text(404, format!("no route for host {host}\n"))),
        },
        Direction::Mesh { service, .. } => match table.mesh.get(service) {
            Some(r) => r,
            None => fallback,
        },
    };
    let source_labels = match &conn.direction {
        Direction::Mesh { source, .. } => Some(&source.labels),
        Direction::North => None,
    };
    let view = RequestView {
        host,
        path: req.uri().path(),
        query: req.uri().query(),
        method: req.method().as_str(),
        scheme: conn.scheme,
        port: conn.local_port,
        headers: req.headers(),
        source_labels,
    };
    let no_match = || text(404, "no matching route\n");
    let (rule, matched) = select::first_rule(rules, &view).ok_or_else(no_match)?;
    if rule.chain_mesh
        && let Action::Forward(f) = &rule.action
        && f.destinations.len() == 1
        && f.rewrite.path.is_none()
        && let Some(mesh_rules) = table.mesh.get(&f.destinations[0].dest.service)
    {
        return select::first_rule(mesh_rules, &view).ok_or_else(no_match);
    }
    Ok((rule, matched))
}

/// The rule's forwarding, or the answer it gives itself (directResponse,
/// redirect).
fn forward_or_answer<'a>(
    rule: &'a Rule,
    conn: &ConnState,
    req: &Request<RequestBody>,
    host: &str,
    host_raw: &str,
    matched: Option<&str>,
) -> Result<&'a Forward, Response<Body>> {
    match &rule.action {
        Action::Forward(f) => Ok(f),
        Action::Direct { status, body } => Err(text(*status, body.clone())),
        Action::Redirect(r) => {
            let port = host_raw.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
            Err(respond::redirect(
                r,
                conn.scheme,
                host,
                port,
                req.uri().path(),
                req.uri().query(),
                matched,
            ))
        }
    }
}

/// The upstream's answer as the client gets it: a failure's text, a `101`
/// whose streams are spliced (`upgrade`), or the response with hop-by-hop
/// fields stripped; all but the `101` with the rule's response operations.
fn answered<'a>(
    answer: Result<Answer, Failure>,
    on_upgrade: Option<DownstreamUpgrade>,
    finish: &Finish<'_>,
    wd: &'a WeightedDestination,
    name: &'a str,
) -> Routed<'a> {
    let dest = Some(&wd.dest);
    let a = match answer {
        Err(f) => {
            let (status, msg) = f.answer();
            let mut r = text(status, msg);
            if f == Failure::Activator {
                let after = crate::activator::RETRY_AFTER_SECS.to_string();
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&after).expect("digits"),
                );
            }
            return Routed::local(finish.local(r, Some(wd)), name, dest);
        }
        Ok(a) => a,
    };
    let mut resp = a.response;
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS
        && let Some(down) = on_upgrade
    {
        let r = upgrade::splice(resp, down);
        return Routed {
            retries: a.retries,
            ..Routed::local(r, name, dest)
        };
    }
    respond::strip_hop_by_hop(resp.headers_mut(), false);
    let (response, raw) = finish.apply(resp, a.raw, Some(wd));
    Routed {
        response,
        raw,
        route: name,
        dest,
        retries: a.retries,
    }
}

/// What every answer of a matched rule but a preflight and a `101` gets:
/// the rule's response header operations (and the destination's), and CORS
/// headers for the request's origin.
struct Finish<'a> {
    rule: &'a Rule,
    origin: Option<String>,
}

impl<'a> Finish<'a> {
    fn new(rule: &'a Rule, req: &Request<RequestBody>) -> Self {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Self { rule, origin }
    }

    /// Applies to `r` and its pass-through fields `raw`.
    fn apply(
        &self,
        mut r: Response<Body>,
        mut raw: Option<RawFields>,
        extra: Option<&WeightedDestination>,
    ) -> (Response<Body>, Option<RawFields>) {
        let rule = self.rule;
        if !rule.response_headers.is_empty()
            || extra.is_some_and(|wd| !wd.response_headers.is_empty())
            || rule.cors.is_some()
        {
            // The operations see (and may change) the upstream's fields.
            fields::materialize(&mut r, raw.take());
        }
        respond::apply_ops(r.headers_mut(), &rule.response_headers);
        if let Some(wd) = extra {
            respond::apply_ops(r.headers_mut(), &wd.response_headers);
        }
        if let Some(cors) = &rule.cors {
            respond::cors_response(cors, self.origin.as_deref(), r.headers_mut());
        }
        (r, raw)
    }

    /// Applies to a local answer (which has no pass-through fields).
    fn local(&self, r: Response<Body>, extra: Option<&WeightedDestination>) -> Response<Body> {
        self.apply(r, None, extra).0
    }
}

fn default_mesh_rule(service: &ferry_core::mesh::ServiceKey, port: u16) -> Rule {
    let dest = Destination {
        service: service.clone(),
        subset: None,
        port: Some(port),
    };
    let fwd = Forward {
        destinations: vec![WeightedDestination {
            dest,
            weight: 100,
            request_headers: Default::default(),
            response_headers: Default::default(),
        }],
        retries: RetryPolicy::istio_default(),
        ..Default::default()
    };
    Rule {
        name: format!("default/{service}"),
        matches: vec![],
        action: Action::Forward(Box::new(fwd)),
        request_headers: Default::default(),
        response_headers: Default::default(),
        cors: None,
        chain_mesh: false,
    }
}
