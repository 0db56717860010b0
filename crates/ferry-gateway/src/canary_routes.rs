//! A canary split's routes on a compiled table, pure (applied by
//! [`crate::canary::overlay`] before the weights): for every rule that
//! forwards to a split Service, each header route becomes a copy of the
//! rule placed before it, its match blocks narrowed by the route's headers
//! and its forward sent to the canary subset; each mirror route with match
//! blocks becomes such a copy forwarding as the rule does plus a mirror to
//! the [`MIRROR`] subset (the canary's pods, counted apart); a mirror
//! route without matches mirrors from the rule itself. The header and
//! mirror machinery is the one routes use (`Match::headers`,
//! `Forward::mirrors`).

use std::collections::BTreeMap;

use ferry_core::mesh::ServiceKey;
use ferry_core::rollout_routes::{RouteMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use ferry_core::traffic::Split;

use crate::canary::CANARY;
use crate::config::full_regex;
use crate::table::{Action, Destination, Match, Mirror, PathMatch, Rule, StrMatch};

/// The subset mirrored requests go to: the canary's pods, its answers
/// counted on the split's `mirror` side.
pub const MIRROR: &str = "ferry-mirror";

/// `rule` preceded by its header- and mirror-route copies, for the splits
/// of the Services it forwards to (unsubsetted).
pub fn expand(mut rule: Rule, splits: &BTreeMap<ServiceKey, Split>) -> Vec<Rule> {
    let targets = split_targets(&rule, splits);
    if targets.is_empty() {
        return vec![rule];
    }
    let mut out = Vec::new();
    for (dest, split) in &targets {
        for hr in split.header_routes.iter().filter(|h| !h.matches.is_empty()) {
            out.push(header_copy(&rule, hr, &dest.service));
        }
    }
    for (dest, split) in &targets {
        for mr in &split.mirror_routes {
            let mirror = mirror_to(dest, mr);
            if mr.matches.is_empty() {
                if let Action::Forward(f) = &mut rule.action {
                    f.mirrors.push(mirror);
                }
                continue;
            }
            let mut copy = rule.clone();
            copy.name = format!("{} (canary mirror route {})", rule.name, mr.name);
            let rewrites = matches!(&rule.action, Action::Forward(f) if f.rewrite.path.is_some());
            copy.matches = narrow_by_blocks(&rule.matches, &mr.matches, rewrites);
            if copy.matches.is_empty() {
                // No request can match both (an empty list would match all).
                tracing::warn!(rule = %rule.name, route = %mr.name, "canary mirror route: no request matches both the rule and the route");
                continue;
            }
            if let Action::Forward(f) = &mut copy.action {
                f.mirrors.push(mirror);
            }
            out.push(copy);
        }
    }
    out.push(rule);
    out
}

/// The destinations of `rule` that a split applies to, with their split.
fn split_targets<'s>(
    rule: &Rule,
    splits: &'s BTreeMap<ServiceKey, Split>,
) -> Vec<(Destination, &'s Split)> {
    let Action::Forward(f) = &rule.action else {
        return Vec::new();
    };
    let mut out: Vec<(Destination, &Split)> = Vec::new();
    for d in f.destinations.iter().filter(|d| d.dest.subset.is_none()) {
        if let Some(s) = splits.get(&d.dest.service)
            && !out.iter().any(|(o, _)| o.service == d.dest.service)
        {
            out.push((d.dest.clone(), s));
        }
    }
    out
}

fn mirror_to(dest: &Destination, mr: &SetMirrorRoute) -> Mirror {
    Mirror {
        dest: Destination {
            subset: Some(MIRROR.into()),
            ..dest.clone()
        },
        percent: f64::from(mr.percent()),
    }
}

/// A copy of `rule` for requests carrying `hr`'s headers, forwarding
/// `service`'s share to its canary pods.
fn header_copy(rule: &Rule, hr: &SetHeaderRoute, service: &ServiceKey) -> Rule {
    let mut copy = rule.clone();
    copy.name = format!("{} (canary header route {})", rule.name, hr.name);
    let headers: Vec<(String, StrMatch)> = hr
        .matches
        .iter()
        .map(|m| {
            (
                m.header_name.to_ascii_lowercase(),
                str_match(&m.header_value),
            )
        })
        .collect();
    copy.matches = blocks(&rule.matches)
        .into_iter()
        .map(|mut m| {
            m.headers.extend(headers.iter().cloned());
            m
        })
        .collect();
    if let Action::Forward(f) = &mut copy.action {
        for d in &mut f.destinations {
            if d.dest.service == *service && d.dest.subset.is_none() {
                d.dest.subset = Some(CANARY.into());
            }
        }
    }
    copy
}

/// The rule's match blocks (one matching everything when it has none).
fn blocks(matches: &[Match]) -> Vec<Match> {
    if matches.is_empty() {
        vec![Match::default()]
    } else {
        matches.to_vec()
    }
}

/// Every rule block narrowed by every route block (ORed, as both are).
/// A route's path replaces a rule's path that matches every path (unless
/// the rule rewrites by its match); a pair that would need two methods or
/// two paths at once is left out.
fn narrow_by_blocks(rule: &[Match], route: &[RouteMatch], rewrites: bool) -> Vec<Match> {
    let mut out = Vec::new();
    for m in blocks(rule) {
        for rm in route {
            let mut n = m.clone();
            if let Some(method) = &rm.method {
                if n.method.is_some() {
                    continue;
                }
                n.method = Some(str_match(method));
            }
            if let Some(path) = &rm.path {
                if n.path.as_ref().is_some_and(|p| rewrites || !every_path(p)) {
                    continue;
                }
                n.path = Some(match str_match(path) {
                    StrMatch::Exact(s) => PathMatch::Exact(s),
                    StrMatch::Regex(r) => PathMatch::Regex(r),
                    StrMatch::Prefix(s) => PathMatch::Prefix(s),
                    StrMatch::Present => PathMatch::Prefix(String::new()),
                });
            }
            for (h, v) in &rm.headers {
                n.headers.push((h.to_ascii_lowercase(), str_match(v)));
            }
            out.push(n);
        }
    }
    out
}

/// True for a path match every path passes (`/` as a prefix).
fn every_path(p: &PathMatch) -> bool {
    match p {
        PathMatch::Prefix(s) => s.is_empty() || s == "/",
        PathMatch::Segments(s) => s.trim_end_matches('/').is_empty(),
        _ => false,
    }
}

/// A validated `{exact|prefix|regex}` as the table's matcher (an invalid
/// one, which validation rejects first, matches nothing).
fn str_match(s: &StringMatch) -> StrMatch {
    match (&s.exact, &s.prefix, &s.regex) {
        (Some(e), _, _) => StrMatch::Exact(e.clone()),
        (_, Some(p), _) => StrMatch::Prefix(p.clone()),
        (_, _, Some(r)) => StrMatch::Regex(full_regex(r).unwrap_or_else(|_| never())),
        _ => StrMatch::Regex(never()),
    }
}

fn never() -> regex::Regex {
    regex::Regex::new("[^\\s\\S]").expect("a constant regex")
}
