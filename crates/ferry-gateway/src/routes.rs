//! What each host and path resolves to, for `ferry get routes`: one row per
//! rule and match block, served as JSON at `/api/v1/routes` by the region.

use serde::{Deserialize, Serialize};

use crate::Gateway;
use crate::table::{Action, Match, PathMatch, RouteTable, Rule, StrMatch};

/// One line of `ferry get routes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteRow {
    /// `north` or `mesh`.
    pub direction: String,
    /// Host pattern (north) or `namespace/service` (mesh).
    pub host: String,
    /// The match, e.g. `prefix /api header end-user=jason`.
    #[serde(rename = "match")]
    pub matches: String,
    /// Where it goes: `svc.ns[subset] 50%, ...`, `redirect ...`, `direct 503`.
    pub target: String,
    /// Fault, mirror, retry and timeout settings in brief.
    pub policies: String,
    /// The rule's origin (`Kind/namespace/name/rule`).
    pub rule: String,
}

/// Rows for every rule of `table`, in evaluation order.
pub fn rows(table: &RouteTable) -> Vec<RouteRow> {
    let mut out = Vec::new();
    for vh in &table.north {
        for r in &vh.rules {
            push(&mut out, "north", &vh.host.to_string(), r);
        }
    }
    for (svc, rules) in &table.mesh {
        for r in rules {
            push(&mut out, "mesh", &svc.to_string(), r);
        }
    }
    out
}

fn push(out: &mut Vec<RouteRow>, direction: &str, host: &str, r: &Rule) {
    let (target, policies) = describe(&r.action);
    let matches = if r.matches.is_empty() {
        vec!["*".to_string()]
    } else {
        r.matches.iter().map(describe_match).collect()
    };
    for m in matches {
        out.push(RouteRow {
            direction: direction.into(),
            host: host.into(),
            matches: m,
            target: target.clone(),
            policies: policies.clone(),
            rule: r.name.clone(),
        });
    }
}

fn sm(m: &StrMatch) -> String {
    match m {
        StrMatch::Exact(s) => format!("={s}"),
        StrMatch::Prefix(s) => format!("^={s}"),
        StrMatch::Regex(r) => format!(
            "~{}",
            r.as_str().trim_start_matches("^(?:").trim_end_matches(")$")
        ),
        StrMatch::Present => " present".into(),
    }
}

fn describe_match(m: &Match) -> String {
    let mut parts = Vec::new();
    match &m.path {
        Some(PathMatch::Exact(p)) => parts.push(format!("exact {p}")),
        Some(PathMatch::Prefix(p) | PathMatch::Segments(p)) => parts.push(format!("prefix {p}")),
        Some(PathMatch::Regex(r)) => parts.push(format!("regex {}", r.as_str())),
        None => {}
    }
    if let Some(x) = &m.method {
        parts.push(format!("method{}", sm(x)));
    }
    for (k, v) in &m.headers {
        parts.push(format!("header {k}{}", sm(v)));
    }
    for (k, v) in &m.without_headers {
        parts.push(format!("!header {k}{}", sm(v)));
    }
    for (k, v) in &m.query {
        parts.push(format!("query {k}{}", sm(v)));
    }
    if parts.is_empty() {
        "*".into()
    } else {
        parts.join(" ")
    }
}

fn describe(a: &Action) -> (String, String) {
    match a {
        Action::Direct { status, .. } => (format!("direct {status}"), String::new()),
        Action::Redirect(r) => (format!("redirect {}", r.code), String::new()),
        Action::Forward(f) => {
            let total: u32 = f.destinations.iter().map(|d| d.weight).sum::<u32>().max(1);
            let targets: Vec<String> = f
                .destinations
                .iter()
                .map(|d| {
                    let mut s = format!("{}.{}", d.dest.service.name, d.dest.service.namespace);
                    if let Some(p) = d.dest.port {
                        s.push_str(&format!(":{p}"));
                    }
                    if let Some(sub) = &d.dest.subset {
                        s.push_str(&format!("[{sub}]"));
                    }
                    if f.destinations.len() > 1 {
                        s.push_str(&format!(
                            " {}%",
                            (f64::from(d.weight) * 100.0 / f64::from(total)).round()
                        ));
                    }
                    s
                })
                .collect();
            let mut p = Vec::new();
            if let Some((d, pct)) = f.fault.delay {
                p.push(format!("delay {d:?} {pct}%"));
            }
            if let Some((s, pct)) = f.fault.abort {
                p.push(format!("abort {s} {pct}%"));
            }
            for m in &f.mirrors {
                p.push(format!(
                    "mirror {}.{}{} {}%",
                    m.dest.service.name,
                    m.dest.service.namespace,
                    m.dest
                        .subset
                        .as_ref()
                        .map(|s| format!("[{s}]"))
                        .unwrap_or_default(),
                    m.percent
                ));
            }
            if let Some(t) = f.timeout {
                p.push(format!("timeout {t:?}"));
            }
            if f.retries.attempts > 0 {
                p.push(format!("retries {}", f.retries.attempts));
            }
            (targets.join(", "), p.join(", "))
        }
    }
}

/// `GET /routes` (nested under `/api/v1/` by the region).
pub fn api(gateway: Gateway) -> axum::Router {
    axum::Router::new().route(
        "/routes",
        axum::routing::get(move || {
            let gw = gateway.clone();
            async move { axum::Json(rows(&gw.table())) }
        }),
    )
}
