//! Pieces of a VirtualService route shared by its compile steps: percentages,
//! `retryOn`, destinations (checking their subsets exist), string and
//! request matches, header operations and CORS policies.

use std::collections::BTreeMap;

use ferry_core::error::Problem;

use crate::config::istio::{self as api, StringMatch};
use crate::config::{Ctx, full_regex, parse_duration};
use crate::table::*;

pub(super) fn percent_of(
    ctx: &Ctx,
    path: &str,
    p: Option<&api::Percent>,
    legacy: Option<u32>,
    out: &mut Vec<Problem>,
) -> f64 {
    let (v, field) = match (p, legacy) {
        (Some(p), _) => (p.value, "percentage.value"),
        (None, Some(n)) => (n as f64, "percent"),
        // Istio: with no percentage every request is affected.
        (None, None) => (100.0, "percentage"),
    };
    check_percent(ctx, &format!("{path}.{field}"), v, out);
    v.clamp(0.0, 100.0)
}

pub(super) fn check_percent(ctx: &Ctx, path: &str, v: f64, out: &mut Vec<Problem>) {
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        out.push(ctx.problem(path, format!("percentage {v} must be between 0 and 100")));
    }
}

/// Parses `retryOn` (`5xx,gateway-error,connect-failure,503,...`).
pub fn parse_retry_on(s: &str) -> Result<RetryOn, crate::Error> {
    let mut on = RetryOn::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "5xx" => on.server_error = true,
            "gateway-error" => on.gateway_error = true,
            "connect-failure" => on.connect_failure = true,
            "reset" | "refused-stream" | "reset-before-request" => on.reset = true,
            "retriable-4xx" => on.retriable_4xx = true,
            "retriable-status-codes"
            | "unavailable"
            | "cancelled"
            | "deadline-exceeded"
            | "internal"
            | "resource-exhausted"
            | "envoy-ratelimited"
            | "retriable-headers"
            | "http3-post-connect-failure" => {}
            code => match code.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => on.status_codes.push(c),
                _ => {
                    return Err(crate::Error::RetryOn {
                        condition: code.to_string(),
                    });
                }
            },
        }
    }
    Ok(on)
}

pub(super) fn destination(
    ctx: &Ctx,
    path: &str,
    d: &api::Destination,
    policies: &BTreeMap<ferry_core::mesh::ServiceKey, DestinationPolicy>,
    out: &mut Vec<Problem>,
) -> Destination {
    let service = ctx.service(&d.host);
    if let Some(subset) = &d.subset {
        match policies.get(&service) {
            None => out.push(ctx.problem(
                format!("{path}.subset"),
                format!(
                    "unknown subset {subset:?}: no DestinationRule defines subsets for {service}"
                ),
            )),
            Some(p) if !p.subsets.contains_key(subset) => {
                let known: Vec<_> = p.subsets.keys().cloned().collect();
                out.push(ctx.problem(
                    format!("{path}.subset"),
                    format!(
                        "unknown subset {subset:?}: {} defines {}",
                        p.origin,
                        known.join(", ")
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Destination {
        service,
        subset: d.subset.clone(),
        port: d.port.as_ref().map(|p| p.number),
    }
}

fn str_match(ctx: &Ctx, path: &str, m: &StringMatch, out: &mut Vec<Problem>) -> StrMatch {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(e), None, None) => StrMatch::Exact(e.clone()),
        (None, Some(p), None) => StrMatch::Prefix(p.clone()),
        (None, None, Some(r)) => match full_regex(r) {
            Ok(re) => StrMatch::Regex(re),
            Err(e) => {
                out.push(ctx.problem(format!("{path}.regex"), e.to_string()));
                StrMatch::Present
            }
        },
        (None, None, None) => StrMatch::Present,
        _ => {
            out.push(ctx.problem(path, "set exactly one of exact, prefix or regex"));
            StrMatch::Present
        }
    }
}

pub(super) fn http_match(
    ctx: &Ctx,
    path: &str,
    m: &api::HttpMatchRequest,
    out: &mut Vec<Problem>,
) -> Match {
    let path_match = m
        .uri
        .as_ref()
        .map(|u| match str_match(ctx, &format!("{path}.uri"), u, out) {
            StrMatch::Exact(s) => PathMatch::Exact(s),
            StrMatch::Prefix(s) => PathMatch::Prefix(s),
            StrMatch::Regex(r) => PathMatch::Regex(r),
            StrMatch::Present => PathMatch::Prefix(String::new()),
        });
    let named = |map: &BTreeMap<String, StringMatch>, field: &str, out: &mut Vec<Problem>| {
        map.iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    str_match(ctx, &format!("{path}.{field}.{k}"), v, out),
                )
            })
            .collect::<Vec<_>>()
    };
    Match {
        path: path_match,
        ignore_case: m.ignore_uri_case,
        method: m
            .method
            .as_ref()
            .map(|v| str_match(ctx, &format!("{path}.method"), v, out)),
        authority: m
            .authority
            .as_ref()
            .map(|v| str_match(ctx, &format!("{path}.authority"), v, out)),
        scheme: m
            .scheme
            .as_ref()
            .map(|v| str_match(ctx, &format!("{path}.scheme"), v, out)),
        headers: named(&m.headers, "headers", out),
        without_headers: named(&m.without_headers, "withoutHeaders", out),
        query: m
            .query_params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    str_match(ctx, &format!("{path}.queryParams.{k}"), v, out),
                )
            })
            .collect(),
        port: m.port,
        source_labels: m.source_labels.clone(),
    }
}

pub(super) fn headers(h: Option<&api::Headers>) -> (HeaderOps, HeaderOps) {
    let conv = |o: Option<&api::HeaderOperations>| {
        o.map(|o| HeaderOps {
            set: o
                .set
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            add: o
                .add
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            remove: o.remove.iter().map(|k| k.to_ascii_lowercase()).collect(),
        })
        .unwrap_or_default()
    };
    (
        conv(h.and_then(|h| h.request.as_ref())),
        conv(h.and_then(|h| h.response.as_ref())),
    )
}

pub(super) fn cors(ctx: &Ctx, path: &str, p: &api::CorsPolicy, out: &mut Vec<Problem>) -> Cors {
    let mut origins: Vec<StrMatch> = p
        .allow_origins
        .iter()
        .enumerate()
        .map(|(i, m)| str_match(ctx, &format!("{path}.allowOrigins[{i}]"), m, out))
        .collect();
    origins.extend(p.allow_origin.iter().map(|o| StrMatch::Exact(o.clone())));
    let max_age = p.max_age.as_ref().and_then(|s| {
        parse_duration(s)
            .map_err(|e| out.push(ctx.problem(format!("{path}.maxAge"), e.to_string())))
            .ok()
    });
    Cors {
        origins,
        methods: p.allow_methods.clone(),
        allow_headers: p.allow_headers.clone(),
        expose_headers: p.expose_headers.clone(),
        max_age,
        credentials: p.allow_credentials.unwrap_or(false),
    }
}
