//! Building what goes upstream: the request head (hop-by-hop headers
//! stripped, Host, header operations, X-Forwarded-For/-Proto, path rewrite)
//! and its body (buffered when small and retries or mirrors may replay it),
//! the consistent-hash key of the destination's load balancer, and mirrored
//! copies (fire-and-forget).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;

use super::Inner;
use super::downstream::RequestBody;
use super::respond::{self, text};
use super::types::{Body, ConnInfo, ConnState, Head, ReqBody};
use crate::metrics::MirrorLabels;
use crate::select;
use crate::table::{
    Forward, LoadBalancer, RetryOn, RetryPolicy, Rule, TrafficPolicy, WeightedDestination,
};

// Constants: a name given as `&str` is parsed, and allocated, on every use.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The request head to send upstream, and its body: buffered when it is
/// already whole; streamed when it is big or nothing may replay it; and
/// `Err(body)` when it is small and retries or mirrors may replay it, to
/// be buffered with [`collect`] (an await kept off the common path).
#[allow(clippy::too_many_arguments)]
pub(super) fn prepare(
    gw: &Inner,
    conn: &ConnState,
    req: Request<RequestBody>,
    rule: &Rule,
    fwd: &Forward,
    wd: &WeightedDestination,
    matched: Option<&str>,
    host_raw: &str,
) -> Result<(Head, Result<ReqBody, RequestBody>), Response<Body>> {
    let (parts, incoming) = req.into_parts();
    let mut headers = parts.headers;
    // One pass over the names (no hashing) says which lookups are needed.
    let seen = Seen::of(&headers);
    let grpc = seen.content_type
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/grpc"));
    if seen.hop_by_hop {
        respond::strip_hop_by_hop(&mut headers, seen.upgrade);
    }
    if !seen.host
        && let Ok(v) = HeaderValue::try_from(host_raw)
    {
        headers.insert(header::HOST, v);
    }
    if let Some(a) = &fwd.rewrite.authority
        && let Ok(v) = HeaderValue::try_from(a.as_str())
    {
        headers.insert(header::HOST, v);
    }
    respond::apply_ops(&mut headers, &rule.request_headers);
    respond::apply_ops(&mut headers, &wd.request_headers);
    let ops = !rule.request_headers.is_empty() || !wd.request_headers.is_empty();
    let prev = (seen.xff || ops)
        .then(|| headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()))
        .flatten();
    let xff = match prev {
        Some(prev) => HeaderValue::try_from(format!("{prev}, {}", conn.remote.ip())).ok(),
        None => Some(conn.client_ip.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = HeaderValue::from_static(if conn.scheme == "https" {
        "https"
    } else {
        "http"
    });
    if seen.xfp || ops {
        headers.entry(X_FORWARDED_PROTO).or_insert(proto);
    } else {
        headers.append(X_FORWARDED_PROTO, proto);
    }
    let path_and_query = match &fwd.rewrite.path {
        Some(rw) => {
            let path = respond::rewrite_path(parts.uri.path(), matched, rw);
            let rewritten = match parts.uri.query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            PathAndQuery::try_from(rewritten)
                .map_err(|_| text(500, "rewritten path is not a valid URI path\n"))?
        }
        None => parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    };
    let head = Head {
        method: parts.method,
        path_and_query,
        headers,
        grpc,
    };
    let wants_copy = fwd.retries.attempts > 0 || !fwd.mirrors.is_empty();
    let body = match incoming {
        RequestBody::Empty => Ok(ReqBody::Buffered(Bytes::new())),
        RequestBody::Full(b) => Ok(ReqBody::Buffered(b)),
        b if b.is_end_stream() => Ok(ReqBody::Buffered(Bytes::new())),
        b if wants_copy
            && b.size_hint()
                .exact()
                .is_some_and(|n| n as usize <= gw.config.buffer_limit) =>
        {
            Err(b)
        }
        b => Ok(ReqBody::Stream(Some(b.boxed_unsync()))),
    };
    Ok((head, body))
}

/// Which fields a request head has that building the upstream head cares
/// about.
#[derive(Debug, Default)]
struct Seen {
    upgrade: bool,
    content_type: bool,
    host: bool,
    xff: bool,
    xfp: bool,
    /// Any field `strip_hop_by_hop` may remove.
    hop_by_hop: bool,
}

impl Seen {
    fn of(headers: &http::HeaderMap) -> Self {
        let mut s = Seen::default();
        for name in headers.keys() {
            if name == header::HOST {
                s.host = true;
            } else if name == header::CONTENT_TYPE {
                s.content_type = true;
            } else if name == X_FORWARDED_FOR {
                s.xff = true;
            } else if name == X_FORWARDED_PROTO {
                s.xfp = true;
            } else if name == header::UPGRADE {
                s.upgrade = true;
                s.hop_by_hop = true;
            } else if respond::is_hop_by_hop(name, false) {
                s.hop_by_hop = true;
            }
        }
        s
    }
}

/// Collects a small body that retries or mirrors may replay.
pub(super) async fn collect(body: RequestBody) -> Result<ReqBody, Response<Body>> {
    match body.collect().await {
        Ok(c) => Ok(ReqBody::Buffered(c.to_bytes())),
        Err(_) => Err(text(400, "request body ended early\n")),
    }
}

/// Fires mirrors (fire-and-forget; Host suffixed `-shadow`; skipped and
/// counted when the body was too large to buffer); `client`'s network
/// policy holds for them too.
pub(super) fn mirror(
    gw: &Arc<Inner>,
    table: &Arc<crate::table::RouteTable>,
    route: &str,
    fwd: &Forward,
    head: &Head,
    body: &ReqBody,
    client: &ConnInfo,
) {
    for m in &fwd.mirrors {
        if !select::hit(m.percent, fastrand::f64()) {
            continue;
        }
        let labels = |result: &str| MirrorLabels {
            route: route.to_string(),
            destination_service: format!("{}.{}", m.dest.service.name, m.dest.service.namespace),
            result: result.to_string(),
        };
        let ReqBody::Buffered(bytes) = body else {
            gw.metrics
                .mirrors
                .get_or_create(&labels("skipped_body_too_large"))
                .inc();
            continue;
        };
        let mut head = head.clone();
        if let Some(h) = head.headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
            let shadow = match h.rsplit_once(':') {
                Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                    format!("{name}-shadow:{port}")
                }
                _ => format!("{h}-shadow"),
            };
            if let Ok(v) = HeaderValue::try_from(shadow) {
                head.headers.insert(header::HOST, v);
            }
        }
        let (gw, table, dest, bytes) = (gw.clone(), table.clone(), m.dest.clone(), bytes.clone());
        let client = client.clone();
        let (sent, failed) = (labels("sent"), labels("failed"));
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let none = RetryPolicy {
                attempts: 0,
                per_try_timeout: None,
                on: RetryOn::default(),
            };
            let r = gw
                .send(
                    &table,
                    &dest,
                    head,
                    ReqBody::Buffered(bytes),
                    &none,
                    Some(Duration::from_secs(30)),
                    Some(&client),
                )
                .await;
            let status = match r {
                Ok(a) => {
                    gw.metrics.mirrors.get_or_create(&sent).inc();
                    let status = a.response.status().as_u16();
                    let whole = a.response.into_body().collect().await.is_ok();
                    if whole { status } else { 502 }
                }
                Err(_) => {
                    gw.metrics.mirrors.get_or_create(&failed).inc();
                    502
                }
            };
            // A canary's mirror route: its answers are analysed apart.
            if dest.subset.as_deref() == Some(crate::canary_routes::MIRROR) {
                let seconds = start.elapsed().as_secs_f64();
                gw.splits
                    .record(&dest.service, crate::canary_routes::MIRROR, status, seconds);
            }
        });
    }
}

pub(super) fn hash_key(policy: &TrafficPolicy, head: &Head, conn: &ConnInfo) -> Option<String> {
    match &policy.lb {
        LoadBalancer::HashHeader(h) => head
            .headers
            .get(h.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        LoadBalancer::HashCookie(name) => head
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|c| c.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == name).then(|| v.to_string())
            }),
        LoadBalancer::HashQuery(q) => head.path_and_query.query().and_then(|qs| {
            qs.split('&').find_map(|kv| {
                kv.split_once('=')
                    .filter(|(k, _)| k == q)
                    .map(|(_, v)| v.to_string())
            })
        }),
        LoadBalancer::HashSourceIp => Some(conn.remote.ip().to_string()),
        _ => None,
    }
}
