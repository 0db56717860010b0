//! Compiles Istio `VirtualService` and `DestinationRule` specs into route
//! table rules and destination policies, checking what Istio's validation
//! checks (subsets that exist, weights, percentages, regexes, durations).

use std::collections::BTreeMap;

use ferry_core::error::Problem;

use crate::config::istio::{self as api, StringMatch};
use crate::config::{Ctx, full_regex, parse_duration};
use crate::table::*;

/// Compiles a DestinationRule.
pub fn destination_rule(
    ctx: &Ctx,
    spec: &api::DestinationRuleSpec,
    out: &mut Vec<Problem>,
) -> DestinationPolicy {
    let base = traffic_policy(
        ctx,
        "spec.trafficPolicy",
        spec.traffic_policy.as_ref(),
        &TrafficPolicy::default(),
        out,
    );
    let mut subsets = BTreeMap::new();
    for (i, s) in spec.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        let policy = traffic_policy(
            ctx,
            &format!("{path}.trafficPolicy"),
            s.traffic_policy.as_ref(),
            &base,
            out,
        );
        if subsets
            .insert(
                s.name.clone(),
                SubsetPolicy {
                    labels: s.labels.clone(),
                    policy,
                },
            )
            .is_some()
        {
            out.push(ctx.problem(
                format!("{path}.name"),
                format!("duplicate subset name {:?}", s.name),
            ));
        }
    }
    DestinationPolicy {
        origin: ctx.id(),
        policy: base,
        subsets,
    }
}

fn traffic_policy(
    ctx: &Ctx,
    path: &str,
    p: Option<&api::TrafficPolicy>,
    parent: &TrafficPolicy,
    out: &mut Vec<Problem>,
) -> TrafficPolicy {
    let mut tp = parent.clone();
    let Some(p) = p else { return tp };
    let dur = |field: &str, v: &Option<String>, out: &mut Vec<Problem>| {
        v.as_ref().and_then(|s| {
            parse_duration(s)
                .map_err(|e| out.push(ctx.problem(format!("{path}.{field}"), e)))
                .ok()
        })
    };
    if let Some(lb) = &p.load_balancer {
        tp.lb = match (&lb.simple, &lb.consistent_hash) {
            (Some(_), Some(_)) => {
                out.push(ctx.problem(
                    format!("{path}.loadBalancer"),
                    "set either simple or consistentHash, not both",
                ));
                LoadBalancer::RoundRobin
            }
            (Some(s), None) => match s.as_str() {
                "ROUND_ROBIN" | "UNSPECIFIED" | "PASSTHROUGH" => LoadBalancer::RoundRobin,
                "LEAST_REQUEST" | "LEAST_CONN" => LoadBalancer::LeastRequest,
                "RANDOM" => LoadBalancer::Random,
                other => {
                    out.push(ctx.problem(
                        format!("{path}.loadBalancer.simple"),
                        format!("unknown load balancer {other:?} (use ROUND_ROBIN, LEAST_REQUEST or RANDOM)"),
                    ));
                    LoadBalancer::RoundRobin
                }
            },
            (None, Some(h)) => {
                if let Some(name) = &h.http_header_name {
                    LoadBalancer::HashHeader(name.to_ascii_lowercase())
                } else if let Some(c) = &h.http_cookie {
                    LoadBalancer::HashCookie(c.name.clone())
                } else if let Some(q) = &h.http_query_parameter_name {
                    LoadBalancer::HashQuery(q.clone())
                } else if h.use_source_ip == Some(true) {
                    LoadBalancer::HashSourceIp
                } else {
                    out.push(ctx.problem(
                        format!("{path}.loadBalancer.consistentHash"),
                        "name a hash key: httpHeaderName, httpCookie, httpQueryParameterName or useSourceIp",
                    ));
                    LoadBalancer::RoundRobin
                }
            }
            (None, None) => tp.lb.clone(),
        };
    }
    if let Some(cp) = &p.connection_pool {
        if let Some(tcp) = &cp.tcp {
            tp.max_connections = tcp.max_connections.or(tp.max_connections);
            tp.connect_timeout = dur(
                "connectionPool.tcp.connectTimeout",
                &tcp.connect_timeout,
                out,
            )
            .or(tp.connect_timeout);
        }
        if let Some(http) = &cp.http {
            tp.max_pending = http.http1_max_pending_requests.or(tp.max_pending);
            tp.max_requests = http.http2_max_requests.or(tp.max_requests);
        }
    }
    if let Some(od) = &p.outlier_detection {
        let interval = dur("outlierDetection.interval", &od.interval, out)
            .unwrap_or(std::time::Duration::from_secs(10));
        let base_ejection = dur(
            "outlierDetection.baseEjectionTime",
            &od.base_ejection_time,
            out,
        )
        .unwrap_or(std::time::Duration::from_secs(30));
        let max = od.max_ejection_percent.unwrap_or(10);
        if max > 100 {
            out.push(ctx.problem(
                format!("{path}.outlierDetection.maxEjectionPercent"),
                "must be between 0 and 100",
            ));
        }
        let gateway = od.consecutive_gateway_errors.or(od.consecutive_errors);
        tp.outlier = Some(OutlierPolicy {
            // Istio: consecutive5xxErrors defaults to 5 unless set (0 disables).
            consecutive_5xx: match od.consecutive5xx_errors {
                Some(0) => None,
                Some(n) => Some(n),
                None if gateway.is_some() => None,
                None => Some(5),
            },
            consecutive_gateway: gateway.filter(|n| *n > 0),
            interval,
            base_ejection,
            max_ejection_percent: max.min(100),
        });
    }
    tp
}

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
                Some(Err(e)) => out.push(ctx.problem(format!("{p}.fixedDelay"), e)),
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
            Err(e) => out.push(ctx.problem(format!("{path}.timeout"), e)),
        }
    }
    f.retries = RetryPolicy {
        attempts: 2,
        per_try_timeout: None,
        on: RetryOn {
            connect_failure: true,
            reset: true,
            status_codes: vec![503],
            ..Default::default()
        },
    };
    if let Some(rt) = &r.retries {
        f.retries.attempts = rt.attempts;
        if let Some(t) = &rt.per_try_timeout {
            match parse_duration(t) {
                Ok(d) => f.retries.per_try_timeout = Some(d).filter(|d| !d.is_zero()),
                Err(e) => out.push(ctx.problem(format!("{path}.retries.perTryTimeout"), e)),
            }
        }
        if let Some(on) = &rt.retry_on {
            match parse_retry_on(on) {
                Ok(v) => f.retries.on = v,
                Err(e) => out.push(ctx.problem(format!("{path}.retries.retryOn"), e)),
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

fn percent_of(
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

fn check_percent(ctx: &Ctx, path: &str, v: f64, out: &mut Vec<Problem>) {
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        out.push(ctx.problem(path, format!("percentage {v} must be between 0 and 100")));
    }
}

/// Parses `retryOn` (`5xx,gateway-error,connect-failure,503,...`).
pub fn parse_retry_on(s: &str) -> Result<RetryOn, String> {
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
                    return Err(format!(
                        "unknown retry condition {code:?} (use 5xx, gateway-error, connect-failure, reset or a status code)"
                    ));
                }
            },
        }
    }
    Ok(on)
}

fn destination(
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
                out.push(ctx.problem(format!("{path}.regex"), e));
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

fn http_match(ctx: &Ctx, path: &str, m: &api::HttpMatchRequest, out: &mut Vec<Problem>) -> Match {
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

fn headers(h: Option<&api::Headers>) -> (HeaderOps, HeaderOps) {
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

fn cors(ctx: &Ctx, path: &str, p: &api::CorsPolicy, out: &mut Vec<Problem>) -> Cors {
    let mut origins: Vec<StrMatch> = p
        .allow_origins
        .iter()
        .enumerate()
        .map(|(i, m)| str_match(ctx, &format!("{path}.allowOrigins[{i}]"), m, out))
        .collect();
    origins.extend(p.allow_origin.iter().map(|o| StrMatch::Exact(o.clone())));
    let max_age = p.max_age.as_ref().and_then(|s| {
        parse_duration(s)
            .map_err(|e| out.push(ctx.problem(format!("{path}.maxAge"), e)))
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
