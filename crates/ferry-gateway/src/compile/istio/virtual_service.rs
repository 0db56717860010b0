//! Compiles Istio `VirtualService` HTTP routes into route-table rules:
//! matches, weighted destinations, faults, mirrors, retries, timeouts,
//! rewrites, redirects and direct responses, with the host/path claims used
//! for cross-object conflict checks.

use std::collections::BTreeMap;

use ferry_core::error::Problem;

use super::parts::{
    check_percent, cors, destination, headers, http_match, parse_retry_on, percent_of,
};
use crate::config::istio::{self as api, StringMatch};
use crate::config::{Ctx, parse_duration};
use crate::table::*;

/// Everything a VirtualService contributes.
#[derive(Debug, Default)]
pub struct CompiledVs {
    pub rules: Vec<Rule>,
    /// (rule index, host claim path) for conflict checks: `(path key, field path)`.
    pub claims: Vec<(String, String)>,
}

/// Compiles a VirtualService's HTTP routes; `policies` resolves subsets.
pub fn virtual_service(
    ctx: &Ctx,
    spec: &api::VirtualServiceSpec,
    policies: &BTreeMap<ferry_core::mesh::ServiceKey, DestinationPolicy>,
    out: &mut Vec<Problem>,
) -> CompiledVs {
    let mut c = CompiledVs::default();
    if spec.hosts.is_empty() {
        out.push(ctx.problem("spec.hosts", "at least one host is required"));
    }
    let strict_weights = matches!(ctx.version(), "v1alpha3" | "v1beta1");
    for (i, r) in spec.http.iter().enumerate() {
        let path = format!("spec.http[{i}]");
        let name = format!(
            "{}/{}",
            ctx.id(),
            r.name.clone().unwrap_or_else(|| i.to_string())
        );
        let mut matches = Vec::new();
        for (j, m) in r.matches.iter().enumerate() {
            matches.push(http_match(ctx, &format!("{path}.match[{j}]"), m, out));
            let key = m.uri.as_ref().map_or("prefix:/".to_string(), claim_key);
            let only_uri = m.headers.is_empty()
                && m.query_params.is_empty()
                && m.method.is_none()
                && m.without_headers.is_empty();
            if only_uri && m.authority.is_none() && m.port.is_none() && m.source_labels.is_empty() {
                c.claims.push((key, format!("{path}.match[{j}].uri")));
            }
        }
        if r.matches.is_empty() {
            c.claims.push(("prefix:/".into(), format!("{path}.route")));
        }
        let (request_headers, response_headers) = headers(r.headers.as_ref());
        let cors = r
            .cors_policy
            .as_ref()
            .map(|p| cors(ctx, &format!("{path}.corsPolicy"), p, out));
        let action = if let Some(d) = &r.direct_response {
            let body = d
                .body
                .as_ref()
                .and_then(|b| b.string.clone().or_else(|| b.bytes.clone()))
                .unwrap_or_default();
            if !(200..=599).contains(&d.status) {
                out.push(ctx.problem(
                    format!("{path}.directResponse.status"),
                    "must be an HTTP status code",
                ));
            }
            Action::Direct {
                status: d.status,
                body,
            }
        } else if let Some(rd) = &r.redirect {
            Action::Redirect(Redirect {
                scheme: rd.scheme.clone(),
                authority: rd.authority.clone(),
                port: rd.port,
                path: rd.uri.clone().map(PathRewrite::Full),
                code: rd.redirect_code.unwrap_or(301),
            })
        } else {
            if r.route.is_empty() && r.delegate.is_none() {
                out.push(ctx.problem(
                    format!("{path}.route"),
                    "a route needs a destination, redirect or directResponse",
                ));
            }
            Action::Forward(Box::new(forward(
                ctx,
                &path,
                r,
                strict_weights,
                policies,
                out,
            )))
        };
        c.rules.push(Rule {
            name,
            matches,
            action,
            request_headers,
            response_headers,
            cors,
            chain_mesh: false,
        });
    }
    c
}

fn claim_key(m: &StringMatch) -> String {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(e), _, _) => format!("exact:{e}"),
        (_, Some(p), _) => format!("prefix:{p}"),
        (_, _, Some(r)) => format!("regex:{r}"),
        _ => "prefix:/".into(),
    }
}

fn forward(
    ctx: &Ctx,
    path: &str,
    r: &api::HttpRoute,
    strict_weights: bool,
    policies: &BTreeMap<ferry_core::mesh::ServiceKey, DestinationPolicy>,
    out: &mut Vec<Problem>,
) -> Forward {
    let mut f = Forward::default();
    let mut sum = 0i64;
    for (k, d) in r.route.iter().enumerate() {
        let dpath = format!("{path}.route[{k}]");
        let dest = destination(
            ctx,
            &format!("{dpath}.destination"),
            &d.destination,
            policies,
            out,
        );
        let w = if r.route.len() == 1 {
            d.weight.unwrap_or(100).max(0)
        } else {
            d.weight.unwrap_or(0)
        };
        if w < 0 || (strict_weights && w > 100) {
            out.push(ctx.problem(
                format!("{dpath}.weight"),
                format!("weight {w} must be between 0 and 100"),
            ));
        }
        sum += w;
        let (rq, rs) = headers(d.headers.as_ref());
        f.destinations.push(WeightedDestination {
            dest,
            weight: w.max(0) as u32,
            request_headers: rq,
            response_headers: rs,
        });
    }
    if r.route.len() > 1 {
        if strict_weights && sum != 100 {
            out.push(ctx.problem(
                format!("{path}.route"),
                format!(
                    "weights sum to {sum}; in {} they must sum to 100",
                    ctx.version()
                ),
            ));
        } else if sum <= 0 {
            out.push(ctx.problem(
                format!("{path}.route"),
                "weights sum to 0; at least one destination needs weight",
            ));
        }
    }
    // Mirrors.
    if r.mirror.is_some() && !r.mirrors.is_empty() {
        out.push(ctx.problem(
            format!("{path}.mirrors"),
            "set either mirror or mirrors, not both",
        ));
    }
    if let Some(m) = &r.mirror {
        let pct = match (&r.mirror_percentage, r.mirror_percent) {
            (Some(p), _) => p.value,
            (None, Some(p)) => p as f64,
            (None, None) => 100.0,
        };
        check_percent(ctx, &format!("{path}.mirrorPercentage.value"), pct, out);
        let dest = destination(ctx, &format!("{path}.mirror"), m, policies, out);
        f.mirrors.push(Mirror { dest, percent: pct });
    }
    for (k, m) in r.mirrors.iter().enumerate() {
        let pct = m.percentage.as_ref().map_or(100.0, |p| p.value);
        check_percent(
            ctx,
            &format!("{path}.mirrors[{k}].percentage.value"),
            pct,
            out,
        );
        let dest = destination(
            ctx,
            &format!("{path}.mirrors[{k}].destination"),
            &m.destination,
            policies,
            out,
        );
        f.mirrors.push(Mirror { dest, percent: pct });
    }
    // Faults.
    if let Some(fault) = &r.fault {
        if let Some(d) = &fault.delay {
            let p = format!("{path}.fault.delay");
            let pct = percent_of(ctx, &p, d.percentage.as_ref(), d.percent, out);
            match d.fixed_delay.as_deref().map(parse_duration) {
                Some(Ok(dur)) => f.fault.delay = Some((dur, pct)),
                Some(Err(e)) => out.push(ctx.problem(format!("{p}.fixedDelay"), e.to_string())),
                None => out.push(ctx.problem(format!("{p}.fixedDelay"), "fixedDelay is required")),
            }
        }
        if let Some(a) = &fault.abort {
            let p = format!("{path}.fault.abort");
            let pct = percent_of(ctx, &p, a.percentage.as_ref(), a.percent, out);
            match a.http_status {
                Some(s) if (200..=599).contains(&s) => f.fault.abort = Some((s, pct)),
                Some(s) => out.push(ctx.problem(
                    format!("{p}.httpStatus"),
                    format!("{s} is not an HTTP status code"),
                )),
                None => out.push(ctx.problem(
                    format!("{p}.httpStatus"),
                    "httpStatus is required (grpcStatus is not supported)",
                )),
            }
        }
    }
    // Timeout and retries (Istio's default policy: 2 retries on connect
    // failure, reset and 503).
    if let Some(t) = &r.timeout {
        match parse_duration(t) {
            Ok(d) if d.is_zero() => {}
            Ok(d) => f.timeout = Some(d),
            Err(e) => out.push(ctx.problem(format!("{path}.timeout"), e.to_string())),
        }
    }
    f.retries = RetryPolicy::istio_default();
    if let Some(rt) = &r.retries {
        f.retries.attempts = rt.attempts;
        if let Some(t) = &rt.per_try_timeout {
            match parse_duration(t) {
                Ok(d) => f.retries.per_try_timeout = Some(d).filter(|d| !d.is_zero()),
                Err(e) => {
                    out.push(ctx.problem(format!("{path}.retries.perTryTimeout"), e.to_string()))
                }
            }
        }
        if let Some(on) = &rt.retry_on {
            match parse_retry_on(on) {
                Ok(v) => f.retries.on = v,
                Err(e) => out.push(ctx.problem(format!("{path}.retries.retryOn"), e.to_string())),
            }
        }
    }
    // Rewrite.
    if let Some(rw) = &r.rewrite {
        f.rewrite.authority = rw.authority.clone();
        match (&rw.uri, &rw.uri_regex_rewrite) {
            (Some(_), Some(_)) => out.push(ctx.problem(
                format!("{path}.rewrite"),
                "set either uri or uriRegexRewrite, not both",
            )),
            (Some(u), None) => f.rewrite.path = Some(PathRewrite::Prefix(u.clone())),
            (None, Some(rr)) => match regex::Regex::new(&rr.pattern) {
                Ok(re) => {
                    f.rewrite.path = Some(PathRewrite::Regex(re, rr.rewrite.replace("\\", "$")))
                }
                Err(e) => out.push(ctx.problem(
                    format!("{path}.rewrite.uriRegexRewrite.match"),
                    format!("invalid regex: {e}"),
                )),
            },
            (None, None) => {}
        }
    }
    f
}
