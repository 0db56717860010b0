//! The request pipeline: find the rule (virtual host or mesh Service, then
//! first match), answer locally (CORS preflight, directResponse, redirect,
//! injected abort) or forward (delay, weighted destination, rewrites and
//! header operations, mirrors, retries/timeouts, WebSocket upgrade; the
//! upstream request itself is built in `outbound`), then record metrics and
//! one JSON-able access-log event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body::Body as _;

use super::Inner;
use super::downstream::RequestBody;
use super::h1::fields::{self, RawFields};
use super::outbound::{collect, mirror, prepare};
use super::respond::{self, text};
use super::types::{Body, ConnState, Direction};
use super::upgrade::{self, DownstreamUpgrade};
use crate::metrics::{FaultLabels, RequestKey, RequestSample};
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
        // (boxed: a rule is large, and this future holds it while waiting).
        let fallback = match &conn.direction {
            Direction::Mesh { service, port, .. } if !table.mesh.contains_key(service) => {
                Some(Box::new(default_mesh_rule(service, *port)))
            }
            _ => None,
        };
        let (resp, raw, route, dest, retries) = route(
            gw.clone(),
            conn.clone(),
            req,
            host_raw,
            &table,
            fallback.as_deref(),
        )
        .await;
        let status = resp.status().as_u16();
        let elapsed = start.elapsed();
        let resp_bytes = resp.body().size_hint().exact().unwrap_or(0);
        let key = RequestKey {
            direction: conn.direction.name(),
            route,
            service: dest
                .as_ref()
                .map(|d| (d.service.name.as_str(), d.service.namespace.as_str())),
            subset: dest
                .as_ref()
                .and_then(|d| d.subset.as_deref())
                .unwrap_or(""),
            status,
        };
        gw.metrics.record_request(
            &key,
            RequestSample {
                seconds: elapsed.as_secs_f64(),
                request_bytes: req_bytes,
                response_bytes: resp_bytes,
            },
        );
        if retries > 0 {
            gw.metrics
                .retries
                .get_or_create(&key.labels())
                .inc_by(u64::from(retries));
        }
        if let Some((method, path)) = logged {
            let service = key
                .service
                .map(|(n, ns)| format!("{n}.{ns}"))
                .unwrap_or_default();
            tracing::info!(
                target: "ferry::access",
                direction = conn.direction.name(),
                client = %conn.remote,
                method = %method,
                authority = %host_raw,
                path = %path,
                status,
                route = %route,
                destination_service = %service,
                destination_subset = %key.subset,
                retries,
                request_bytes = req_bytes,
                response_bytes = resp_bytes,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "access"
            );
        }
        (resp, raw)
    }
}

/// The answer and its pass-through fields, the route's name, the
/// destination chosen and the retries made.
type Routed<'a> = (
    Response<Body>,
    Option<RawFields>,
    &'a str,
    Option<&'a Destination>,
    u32,
);

#[allow(clippy::manual_async_fn)] // an async block: see the `proxy` module docs
fn route<'a>(
    gw: Arc<Inner>,
    conn: Arc<ConnState>,
    mut req: Request<RequestBody>,
    host_raw: &str,
    table: &'a Arc<RouteTable>,
    fallback: Option<&'a Rule>,
) -> impl Future<Output = Routed<'a>> {
    async move {
        let host = select::normalize_host(host_raw);
        let rules: &'a [Rule] = match &conn.direction {
            Direction::North => match select::virtual_host(table, &host) {
                Some(v) => &v.rules,
                None => {
                    return (
                        text(404, format!("no route for host {host}\n")),
                        None,
                        "",
                        None,
                        0,
                    );
                }
            },
            Direction::Mesh { service, .. } => match table.mesh.get(service) {
                Some(r) => r,
                None => fallback.map(std::slice::from_ref).unwrap_or_default(),
            },
        };
        let source_labels = match &conn.direction {
            Direction::Mesh { source, .. } => Some(&source.labels),
            Direction::North => None,
        };
        let view = RequestView {
            host: &host,
            path: req.uri().path(),
            query: req.uri().query(),
            method: req.method().as_str(),
            scheme: conn.scheme,
            port: conn.local_port,
            headers: req.headers(),
            source_labels,
        };
        let Some((mut rule, mut matched)) = select::first_rule(rules, &view) else {
            return (text(404, "no matching route\n"), None, "", None, 0);
        };
        // An Ingress or HTTPRoute sending to a Service with mesh rules: those
        // rules apply next, as for an ingress controller inside the mesh.
        if rule.chain_mesh
            && let Action::Forward(f) = &rule.action
            && f.destinations.len() == 1
            && f.rewrite.path.is_none()
            && let Some(mesh_rules) = table.mesh.get(&f.destinations[0].dest.service)
        {
            match select::first_rule(mesh_rules, &view) {
                Some((r, m)) => (rule, matched) = (r, m),
                None => return (text(404, "no matching route\n"), None, "", None, 0),
            }
        }
        let name = rule.name.as_str();
        if let Some(cors) = &rule.cors
            && let Some(r) = respond::preflight(cors, req.method(), req.headers())
        {
            return (r, None, name, None, 0);
        }
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Local answers have no pass-through fields (`raw` is None).
        let finish = |mut r: Response<Body>,
                      mut raw: Option<RawFields>,
                      extra: Option<&WeightedDestination>| {
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
                respond::cors_response(cors, origin.as_deref(), r.headers_mut());
            }
            (r, raw)
        };
        let fwd = match &rule.action {
            Action::Direct { status, body } => {
                let (r, raw) = finish(text(*status, body.clone()), None, None);
                return (r, raw, name, None, 0);
            }
            Action::Redirect(r) => {
                let port = host_raw.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                let resp = respond::redirect(
                    r,
                    conn.scheme,
                    &host,
                    port,
                    req.uri().path(),
                    req.uri().query(),
                    matched.as_deref(),
                );
                let (r, raw) = finish(resp, None, None);
                return (r, raw, name, None, 0);
            }
            Action::Forward(f) => f,
        };
        let Some(wd) = select::pick_weighted(&fwd.destinations, fastrand::f64()) else {
            return (
                text(500, "no destination has weight\n"),
                None,
                name,
                None,
                0,
            );
        };
        let dest = Some(&wd.dest);
        // Faults (Istio: with faults, retries and timeouts are off).
        if let Some((delay, pct)) = fwd.fault.delay
            && select::hit(pct, fastrand::f64())
        {
            count_fault(&gw, name, "delay");
            tokio::time::sleep(delay).await;
        }
        if let Some((status, pct)) = fwd.fault.abort
            && select::hit(pct, fastrand::f64())
        {
            count_fault(&gw, name, "abort");
            let (r, raw) = finish(text(status, "fault filter abort"), None, Some(wd));
            return (r, raw, name, dest, 0);
        }
        let on_upgrade = DownstreamUpgrade::of(&mut req);
        let (head, body) =
            match prepare(&gw, &conn, req, rule, fwd, wd, matched.as_deref(), host_raw) {
                Ok(x) => x,
                Err(r) => return (r, None, name, dest, 0),
            };
        let body = match body {
            Ok(b) => b,
            // Boxed: rare, and this future stays small without it.
            Err(b) => match Box::pin(collect(b)).await {
                Ok(b) => b,
                Err(r) => return (r, None, name, dest, 0),
            },
        };
        mirror(&gw, table, name, fwd, &head, &body);
        let (retry, timeout) = if fwd.fault.is_set() {
            (RetryPolicy::default(), None)
        } else {
            (fwd.retries.clone(), fwd.timeout)
        };
        let client = Some(&conn.info);
        let answer = Box::pin(gw.send(table, &wd.dest, head, body, &retry, timeout, client)).await;
        match answer {
            Err(f) => {
                let (status, msg) = f.answer();
                let (r, raw) = finish(text(status, msg), None, Some(wd));
                (r, raw, name, dest, 0)
            }
            Ok(a) => {
                let retries = a.retries;
                let mut resp = a.response;
                if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS
                    && let Some(down) = on_upgrade
                {
                    let r = upgrade::splice(resp, down);
                    return (r, None, name, dest, retries);
                }
                respond::strip_hop_by_hop(resp.headers_mut(), false);
                let (r, raw) = finish(resp, a.raw, Some(wd));
                (r, raw, name, dest, retries)
            }
        }
    }
}

/// Counts an injected fault (`delay` or `abort`) of `route`.
fn count_fault(gw: &Inner, route: &str, fault: &str) {
    gw.metrics
        .faults
        .get_or_create(&FaultLabels {
            route: route.to_string(),
            fault: fault.to_string(),
        })
        .inc();
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
