//! Pure request matching: which virtual host and rule a request hits, what
//! prefix it matched (for prefix rewrites), and which weighted destination
//! it goes to. No IO; randomness is passed in.

use std::borrow::Cow;
use std::collections::BTreeMap;

use http::HeaderMap;

use crate::table::{
    HostPattern, Match, PathMatch, RouteTable, Rule, StrMatch, VirtualHost, WeightedDestination,
};

/// What matching looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Host without port, lowercase.
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub method: &'a str,
    pub scheme: &'a str,
    pub port: u16,
    pub headers: &'a HeaderMap,
    pub source_labels: Option<&'a BTreeMap<String, String>>,
}

/// The most specific virtual host for `host`.
pub fn virtual_host<'t>(table: &'t RouteTable, host: &str) -> Option<&'t VirtualHost> {
    table.north.iter().find(|v| v.host.matches(host))
}

/// The first rule matching `req`, and the path prefix its match consumed.
pub fn first_rule<'r>(
    rules: &'r [Rule],
    req: &RequestView<'_>,
) -> Option<(&'r Rule, Option<String>)> {
    for rule in rules {
        if rule.matches.is_empty() {
            return Some((rule, None));
        }
        for m in &rule.matches {
            if let Some(prefix) = match_block(m, req) {
                return Some((rule, prefix));
            }
        }
    }
    None
}

/// `Some(prefix)` when every condition of `m` holds (`prefix` is the matched
/// path prefix for prefix matches).
fn match_block(m: &Match, req: &RequestView<'_>) -> Option<Option<String>> {
    let mut prefix = None;
    if let Some(pm) = &m.path {
        let (path, lower);
        if m.ignore_case {
            lower = req.path.to_ascii_lowercase();
            path = lower.as_str();
        } else {
            path = req.path;
        }
        let cmp = |s: &str| {
            if m.ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        let ok = match pm {
            PathMatch::Exact(e) => path == cmp(e),
            PathMatch::Prefix(p) => {
                let p = cmp(p);
                let ok = path.starts_with(&p);
                if ok {
                    prefix = Some(req.path[..p.len()].to_string());
                }
                ok
            }
            PathMatch::Segments(p) => {
                let ok = segment_prefix(path, &cmp(p));
                if ok {
                    prefix = Some(p.trim_end_matches('/').to_string());
                }
                ok
            }
            PathMatch::Regex(r) => r.is_match(req.path),
        };
        if !ok {
            return None;
        }
    }
    let str_ok = |sm: &Option<StrMatch>, v: &str| sm.as_ref().is_none_or(|s| s.matches(v));
    if !str_ok(&m.method, req.method)
        || !str_ok(&m.authority, req.host)
        || !str_ok(&m.scheme, req.scheme)
    {
        return None;
    }
    if m.port.is_some_and(|p| p != req.port) {
        return None;
    }
    for (name, sm) in &m.headers {
        match req.headers.get(name).and_then(|v| v.to_str().ok()) {
            Some(v) if sm.matches(v) => {}
            _ => return None,
        }
    }
    for (name, sm) in &m.without_headers {
        if req
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| sm.matches(v))
        {
            return None;
        }
    }
    for (name, sm) in &m.query {
        let found = req.query.unwrap_or("").split('&').filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        });
        if !found.into_iter().any(|v| sm.matches(v)) {
            return None;
        }
    }
    if !m.source_labels.is_empty() {
        let labels = req.source_labels?;
        if !m
            .source_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            return None;
        }
    }
    Some(prefix)
}

/// Element-wise prefix: `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        return true;
    }
    path == p || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
}

/// Picks a destination by weight; `roll` is uniform in `[0, 1)`.
pub fn pick_weighted(dests: &[WeightedDestination], roll: f64) -> Option<&WeightedDestination> {
    let total: u64 = dests.iter().map(|d| u64::from(d.weight)).sum();
    if total == 0 {
        return dests.first().filter(|_| dests.len() == 1);
    }
    let mut point = (roll * total as f64) as u64;
    for d in dests {
        if point < u64::from(d.weight) {
            return Some(d);
        }
        point -= u64::from(d.weight);
    }
    dests.iter().rev().find(|d| d.weight > 0)
}

/// True with probability `percent`/100 given a uniform `roll` in `[0, 1)`.
pub fn hit(percent: f64, roll: f64) -> bool {
    roll * 100.0 < percent
}

/// Lowercases `host` and strips a port.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let h = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => return Cow::Owned(format!("{host}]").to_ascii_lowercase()),
        }
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    let h = h.trim_end_matches('.');
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// The virtual host names shown by `get routes`.
pub fn host_names(table: &RouteTable) -> Vec<String> {
    table
        .north
        .iter()
        .map(|v| match &v.host {
            HostPattern::Any => "*".to_string(),
            h => h.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Destination, HeaderOps};
    use ferry_core::mesh::ServiceKey;

    fn wd(w: u32, name: &str) -> WeightedDestination {
        WeightedDestination {
            dest: Destination {
                service: ServiceKey {
                    namespace: "d".into(),
                    name: name.into(),
                },
                subset: None,
                port: None,
            },
            weight: w,
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
        }
    }

    #[test]
    fn segment_prefixes_follow_the_ingress_spec() {
        assert!(segment_prefix("/foo", "/foo"));
        assert!(segment_prefix("/foo/bar", "/foo/"));
        assert!(!segment_prefix("/foobar", "/foo"));
        assert!(segment_prefix("/anything", "/"));
    }

    #[test]
    fn weights_split_proportionally_and_skip_zero() {
        let d = [wd(50, "a"), wd(0, "b"), wd(50, "c")];
        assert_eq!(pick_weighted(&d, 0.0).unwrap().dest.service.name, "a");
        assert_eq!(pick_weighted(&d, 0.49).unwrap().dest.service.name, "a");
        assert_eq!(pick_weighted(&d, 0.5).unwrap().dest.service.name, "c");
        assert_eq!(pick_weighted(&d, 0.999).unwrap().dest.service.name, "c");
        assert!(pick_weighted(&[wd(0, "a"), wd(0, "b")], 0.3).is_none());
    }

    #[test]
    fn hosts_lose_ports_and_case() {
        assert_eq!(normalize_host("Example.COM:8080"), "example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
    }

    proptest::proptest! {
        #[test]
        fn weighted_pick_never_panics(ws in proptest::collection::vec(0u32..1000, 0..6), roll in 0f64..1.0) {
            let d: Vec<_> = ws.iter().map(|w| wd(*w, "x")).collect();
            if let Some(p) = pick_weighted(&d, roll) { proptest::prop_assert!(p.weight > 0 || d.len() == 1); }
        }
    }
}
