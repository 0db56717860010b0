//! Compiles Gateway API `HTTPRoute` specs into host-keyed rules ordered by
//! Gateway API precedence: Exact, longest prefix, method, most headers, most
//! query params, oldest route, name, rule order.

use ferry_core::error::Problem;

use super::Keyed;
use crate::config::k8s as api;
use crate::config::{Ctx, full_regex, parse_duration};
use crate::table::*;

/// Compiles an HTTPRoute.
pub fn http_route(ctx: &Ctx, spec: &api::HttpRouteSpec, out: &mut Vec<Problem>) -> Vec<Keyed> {
    let created = ctx
        .obj
        .value
        .pointer("/metadata/creationTimestamp")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let tiebreak = format!("{created}|{}/{}", ctx.namespace, ctx.obj.name);
    let hosts: Vec<HostPattern> = if spec.hostnames.is_empty() {
        vec![HostPattern::Any]
    } else {
        spec.hostnames
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect()
    };
    let mut rules = Vec::new();
    for (i, r) in spec.rules.iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        let default_match = [api::HttpRouteMatch::default()];
        let matches: &[api::HttpRouteMatch] = if r.matches.is_empty() {
            &default_match
        } else {
            &r.matches
        };
        for (j, m) in matches.iter().enumerate() {
            let mpath = format!("{path}.matches[{j}]");
            let (compiled, key, claim) = route_match(ctx, &mpath, m, out);
            let key = (key.0, key.1, key.2, key.3, key.4, tiebreak.clone(), i);
            for host in &hosts {
                let rule = http_route_rule(ctx, &path, i, r, compiled.clone(), out);
                rules.push(Keyed {
                    host: host.clone(),
                    key: key.clone(),
                    rule,
                    claim: claim.clone(),
                });
            }
        }
    }
    rules
}

type MatchKey = (
    u8,
    std::cmp::Reverse<usize>,
    u8,
    std::cmp::Reverse<usize>,
    std::cmp::Reverse<usize>,
);

fn route_match(
    ctx: &Ctx,
    path: &str,
    m: &api::HttpRouteMatch,
    out: &mut Vec<Problem>,
) -> (Match, MatchKey, Option<(String, String)>) {
    let (kind, value) = m.path.as_ref().map_or(("PathPrefix", "/"), |p| {
        (
            p.kind.as_deref().unwrap_or("PathPrefix"),
            p.value.as_deref().unwrap_or("/"),
        )
    });
    let (pm, rank) = match kind {
        "Exact" => (Some(PathMatch::Exact(value.into())), 0),
        "PathPrefix" => (Some(PathMatch::Segments(value.into())), 1),
        "RegularExpression" => match full_regex(value) {
            Ok(r) => (Some(PathMatch::Regex(r)), 2),
            Err(e) => {
                out.push(ctx.problem(format!("{path}.path.value"), e.to_string()));
                (None, 2)
            }
        },
        other => {
            out.push(ctx.problem(
                format!("{path}.path.type"),
                format!("unknown path match type {other:?}"),
            ));
            (None, 2)
        }
    };
    let named = |list: &[api::NameMatch], field: &str, lower: bool, out: &mut Vec<Problem>| {
        list.iter()
            .enumerate()
            .map(|(k, h)| {
                let name = if lower {
                    h.name.to_ascii_lowercase()
                } else {
                    h.name.clone()
                };
                let sm = match h.kind.as_deref().unwrap_or("Exact") {
                    "Exact" => StrMatch::Exact(h.value.clone()),
                    "RegularExpression" => full_regex(&h.value)
                        .map(StrMatch::Regex)
                        .unwrap_or_else(|e| {
                            out.push(
                                ctx.problem(format!("{path}.{field}[{k}].value"), e.to_string()),
                            );
                            StrMatch::Present
                        }),
                    other => {
                        out.push(ctx.problem(
                            format!("{path}.{field}[{k}].type"),
                            format!("unknown match type {other:?}"),
                        ));
                        StrMatch::Present
                    }
                };
                (name, sm)
            })
            .collect::<Vec<_>>()
    };
    let headers = named(&m.headers, "headers", true, out);
    let query = named(&m.query_params, "queryParams", false, out);
    let key = (
        rank,
        std::cmp::Reverse(value.len()),
        u8::from(m.method.is_none()),
        std::cmp::Reverse(headers.len()),
        std::cmp::Reverse(query.len()),
    );
    let claim =
        (m.headers.is_empty() && m.query_params.is_empty() && m.method.is_none()).then(|| {
            let k = if rank == 0 {
                "exact"
            } else if rank == 1 {
                "prefix"
            } else {
                "regex"
            };
            (
                format!(
                    "{k}:{}",
                    if rank == 1 {
                        value.trim_end_matches('/')
                    } else {
                        value
                    }
                ),
                format!("{path}.path"),
            )
        });
    let compiled = Match {
        path: pm,
        method: m.method.clone().map(StrMatch::Exact),
        headers,
        query,
        ..Default::default()
    };
    (compiled, key, claim)
}

fn http_route_rule(
    ctx: &Ctx,
    path: &str,
    i: usize,
    r: &api::HttpRouteRule,
    m: Match,
    out: &mut Vec<Problem>,
) -> Rule {
    let mut rule = Rule {
        name: format!(
            "{}/{}",
            ctx.id(),
            r.name.clone().unwrap_or_else(|| i.to_string())
        ),
        matches: vec![m],
        action: Action::Direct {
            status: 500,
            body: "no backend for this route\n".into(),
        },
        request_headers: HeaderOps::default(),
        response_headers: HeaderOps::default(),
        cors: None,
        chain_mesh: true,
    };
    let mut fwd = Forward::default();
    let mut redirect = None;
    for (k, f) in r.filters.iter().enumerate() {
        let fpath = format!("{path}.filters[{k}]");
        match f.kind.as_str() {
            "RequestHeaderModifier" => {
                rule.request_headers = modifier(f.request_header_modifier.as_ref())
            }
            "ResponseHeaderModifier" => {
                rule.response_headers = modifier(f.response_header_modifier.as_ref())
            }
            "RequestMirror" => match &f.request_mirror {
                Some(m) => fwd.mirrors.push(Mirror {
                    dest: Destination {
                        service: service_ref(
                            ctx,
                            m.backend_ref.namespace.as_deref(),
                            &m.backend_ref.name,
                        ),
                        subset: None,
                        port: m.backend_ref.port,
                    },
                    percent: m.percent.unwrap_or(100).min(100) as f64,
                }),
                None => out.push(ctx.problem(
                    format!("{fpath}.requestMirror"),
                    "requestMirror is required for this filter type",
                )),
            },
            "RequestRedirect" => {
                let Some(rd) = &f.request_redirect else {
                    out.push(ctx.problem(
                        format!("{fpath}.requestRedirect"),
                        "requestRedirect is required for this filter type",
                    ));
                    continue;
                };
                redirect = Some(Redirect {
                    scheme: rd.scheme.clone(),
                    authority: rd.hostname.clone(),
                    port: rd.port,
                    path: rd.path.as_ref().and_then(|p| {
                        path_modifier(ctx, &format!("{fpath}.requestRedirect.path"), p, out)
                    }),
                    code: rd.status_code.unwrap_or(302),
                });
            }
            "URLRewrite" => {
                let Some(rw) = &f.url_rewrite else {
                    out.push(ctx.problem(
                        format!("{fpath}.urlRewrite"),
                        "urlRewrite is required for this filter type",
                    ));
                    continue;
                };
                fwd.rewrite.authority = rw.hostname.clone();
                fwd.rewrite.path = rw
                    .path
                    .as_ref()
                    .and_then(|p| path_modifier(ctx, &format!("{fpath}.urlRewrite.path"), p, out));
            }
            other => out.push(ctx.problem(
                format!("{fpath}.type"),
                format!("filter type {other:?} is not supported"),
            )),
        }
    }
    if let Some(t) = &r.timeouts {
        if let Some(d) = &t.request {
            match parse_duration(d) {
                Ok(d) => fwd.timeout = Some(d).filter(|d| !d.is_zero()),
                Err(e) => out.push(ctx.problem(format!("{path}.timeouts.request"), e.to_string())),
            }
        }
        if let Some(d) = &t.backend_request {
            match parse_duration(d) {
                Ok(d) => fwd.retries.per_try_timeout = Some(d).filter(|d| !d.is_zero()),
                Err(e) => {
                    out.push(ctx.problem(format!("{path}.timeouts.backendRequest"), e.to_string()))
                }
            }
        }
    }
    if let Some(rd) = redirect {
        rule.action = Action::Redirect(rd);
        return rule;
    }
    for (k, b) in r.backend_refs.iter().enumerate() {
        let w = b.weight.unwrap_or(1);
        if !(0..=1_000_000).contains(&w) {
            out.push(ctx.problem(
                format!("{path}.backendRefs[{k}].weight"),
                "weight must be between 0 and 1000000",
            ));
        }
        if b.kind.as_deref().is_some_and(|k| k != "Service") {
            out.push(ctx.problem(
                format!("{path}.backendRefs[{k}].kind"),
                "only Service backends are supported",
            ));
        }
        fwd.destinations.push(WeightedDestination {
            dest: Destination {
                service: service_ref(ctx, b.namespace.as_deref(), &b.name),
                subset: None,
                port: b.port,
            },
            weight: w.clamp(0, 1_000_000) as u32,
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
        });
    }
    if !fwd.destinations.is_empty() && fwd.destinations.iter().any(|d| d.weight > 0) {
        rule.action = Action::Forward(Box::new(fwd));
    }
    rule
}

fn service_ref(ctx: &Ctx, ns: Option<&str>, name: &str) -> ferry_core::mesh::ServiceKey {
    ferry_core::mesh::ServiceKey {
        namespace: ns.unwrap_or(&ctx.namespace).to_string(),
        name: name.to_string(),
    }
}

fn modifier(m: Option<&api::HeaderModifier>) -> HeaderOps {
    m.map(|m| HeaderOps {
        set: m
            .set
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
            .collect(),
        add: m
            .add
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
            .collect(),
        remove: m.remove.iter().map(|h| h.to_ascii_lowercase()).collect(),
    })
    .unwrap_or_default()
}

fn path_modifier(
    ctx: &Ctx,
    path: &str,
    p: &api::PathModifier,
    out: &mut Vec<Problem>,
) -> Option<PathRewrite> {
    match (
        p.kind.as_str(),
        &p.replace_full_path,
        &p.replace_prefix_match,
    ) {
        ("ReplaceFullPath", Some(v), _) => Some(PathRewrite::Full(v.clone())),
        ("ReplacePrefixMatch", _, Some(v)) => Some(PathRewrite::Prefix(v.clone())),
        (kind, _, _) => {
            out.push(ctx.problem(
                path,
                format!("path modifier {kind:?} needs its matching replace field"),
            ));
            None
        }
    }
}
