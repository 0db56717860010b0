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

/// The first rule matching `req`, and the path prefix its match consumed
/// (borrowed from the rule unless the match ignores case).
pub fn first_rule<'r>(
    rules: &'r [Rule],
    req: &RequestView<'_>,
) -> Option<(&'r Rule, Option<Cow<'r, str>>)> {
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
/// path prefix for prefix matches). Allocates only for the prefix of a
/// case-insensitive prefix match (the request's spelling of it).
fn match_block<'r>(m: &'r Match, req: &RequestView<'_>) -> Option<Option<Cow<'r, str>>> {
    let mut prefix = None;
    if let Some(pm) = &m.path {
        let ok = match pm {
            PathMatch::Exact(e) => same(req.path, e, m.ignore_case),
            PathMatch::Prefix(p) => {
                let ok = req
                    .path
                    .get(..p.len())
                    .is_some_and(|head| same(head, p, m.ignore_case));
                if ok {
                    prefix = Some(if m.ignore_case {
                        Cow::Owned(req.path[..p.len()].to_string())
                    } else {
                        Cow::Borrowed(p.as_str())
                    });
                }
                ok
            }
            PathMatch::Segments(p) => {
                let ok = segment_prefix_case(req.path, p, m.ignore_case);
                if ok {
                    prefix = Some(Cow::Borrowed(p.trim_end_matches('/')));
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
    segment_prefix_case(path, prefix, false)
}

/// [`segment_prefix`], ignoring ASCII case when `ignore_case`.
fn segment_prefix_case(path: &str, prefix: &str, ignore_case: bool) -> bool {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        return true;
    }
    path.get(..p.len())
        .is_some_and(|head| same(head, p, ignore_case))
        && matches!(path.as_bytes().get(p.len()), None | Some(b'/'))
}

/// `a == b`, ignoring ASCII case when `ignore_case` (as comparing their
/// ASCII-lowercased copies would, without making them).
fn same(a: &str, b: &str, ignore_case: bool) -> bool {
    if ignore_case {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
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

/// Lowercases `host` and strips a port and trailing dots. One pass over
/// the bytes from the end (this runs on every request).
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let b = host.as_bytes();
    let mut end = b.len();
    if b.first() == Some(&b'[') {
        match b.iter().position(|&c| c == b']') {
            Some(close) => end = close + 1,
            None => return Cow::Owned(format!("{host}]").to_ascii_lowercase()),
        }
    } else {
        // `:digits` at the end is a port.
        let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        if digits < b.len() && b[b.len() - digits - 1] == b':' {
            end = b.len() - digits - 1;
        }
    }
    while end > 0 && b[end - 1] == b'.' {
        end -= 1;
    }
    let h = &host[..end];
    if h.bytes().any(|c| c.is_ascii_uppercase()) {
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
        assert_eq!(normalize_host("[::1"), "[::1]");
        assert_eq!(normalize_host("127.0.0.1:19213"), "127.0.0.1");
        assert_eq!(normalize_host("Example.com.:80"), "example.com");
        assert_eq!(normalize_host("web.."), "web");
        assert_eq!(normalize_host("web:"), "web");
        assert_eq!(normalize_host("a:b"), "a:b", "not a port");
        assert_eq!(normalize_host("80"), "80");
        assert_eq!(normalize_host(""), "");
        assert!(matches!(normalize_host("web:80"), Cow::Borrowed("web")));
    }

    fn path_match(path: PathMatch, ignore_case: bool) -> Match {
        Match {
            path: Some(path),
            ignore_case,
            ..Match::default()
        }
    }

    fn view<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView {
            host: "example.com",
            path,
            query: None,
            method: "GET",
            scheme: "http",
            port: 80,
            headers,
            source_labels: None,
        }
    }

    /// The path prefix `m` consumes from `path`: `None` for no match.
    fn matched(m: &Match, path: &str) -> Option<Option<String>> {
        let headers = HeaderMap::new();
        match_block(m, &view(path, &headers)).map(|p| p.map(Cow::into_owned))
    }

    #[test]
    fn path_matches_consume_their_prefix() {
        let exact = path_match(PathMatch::Exact("/Api".into()), false);
        assert_eq!(matched(&exact, "/Api"), Some(None));
        assert_eq!(matched(&exact, "/api"), None);
        let prefix = path_match(PathMatch::Prefix("/Api".into()), false);
        assert_eq!(matched(&prefix, "/Api/x"), Some(Some("/Api".into())));
        assert_eq!(matched(&prefix, "/Apix"), Some(Some("/Api".into())));
        assert_eq!(matched(&prefix, "/api/x"), None);
        assert_eq!(matched(&prefix, "/Ap"), None);
        let segments = path_match(PathMatch::Segments("/Api/".into()), false);
        assert_eq!(matched(&segments, "/Api/x"), Some(Some("/Api".into())));
        assert_eq!(matched(&segments, "/Api"), Some(Some("/Api".into())));
        assert_eq!(matched(&segments, "/Apix"), None);
    }

    #[test]
    fn case_insensitive_prefixes_are_spelled_as_requested() {
        let exact = path_match(PathMatch::Exact("/Api".into()), true);
        assert_eq!(matched(&exact, "/aPI"), Some(None));
        let prefix = path_match(PathMatch::Prefix("/Api".into()), true);
        assert_eq!(matched(&prefix, "/aPI/x"), Some(Some("/aPI".into())));
        assert_eq!(matched(&prefix, "/\u{e9}"), None);
        let segments = path_match(PathMatch::Segments("/Api".into()), true);
        assert_eq!(matched(&segments, "/API/x"), Some(Some("/Api".into())));
        assert_eq!(matched(&segments, "/APIx"), None);
    }

    #[test]
    fn case_sensitive_prefixes_are_borrowed_from_the_rule() {
        let m = path_match(PathMatch::Prefix("/api".into()), false);
        let headers = HeaderMap::new();
        let found = match_block(&m, &view("/api/x", &headers));
        assert!(matches!(found, Some(Some(Cow::Borrowed("/api")))));
    }

    /// Path matching as it was before it stopped making lowercased copies.
    fn lowercasing_match(pm: &PathMatch, ignore_case: bool, path: &str) -> Option<Option<String>> {
        let fold = |s: &str| {
            if ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        let lower = fold(path);
        match pm {
            PathMatch::Exact(e) => (lower == fold(e)).then_some(None),
            PathMatch::Prefix(p) => {
                let p = fold(p);
                lower
                    .starts_with(&p)
                    .then(|| Some(path[..p.len()].to_string()))
            }
            PathMatch::Segments(p) => {
                let lp = fold(p);
                let lp = lp.trim_end_matches('/');
                let ok = lp.is_empty()
                    || lower == lp
                    || (lower.starts_with(lp) && lower.as_bytes().get(lp.len()) == Some(&b'/'));
                ok.then(|| Some(p.trim_end_matches('/').to_string()))
            }
            PathMatch::Regex(_) => unreachable!(),
        }
    }

    proptest::proptest! {
        #[test]
        fn case_folding_agrees_with_lowercased_copies(
            path in "[/aAbB\u{e9}\u{c9}]{0,6}",
            p in "[/aAbB\u{e9}\u{c9}]{0,4}",
            kind in 0..3,
            ignore_case: bool,
        ) {
            let pm = match kind {
                0 => PathMatch::Exact(p),
                1 => PathMatch::Prefix(p),
                _ => PathMatch::Segments(p),
            };
            let want = lowercasing_match(&pm, ignore_case, &path);
            proptest::prop_assert_eq!(matched(&path_match(pm, ignore_case), &path), want);
        }

        #[test]
        fn weighted_pick_never_panics(ws in proptest::collection::vec(0u32..1000, 0..6), roll in 0f64..1.0) {
            let d: Vec<_> = ws.iter().map(|w| wd(*w, "x")).collect();
            if let Some(p) = pick_weighted(&d, roll) { proptest::prop_assert!(p.weight > 0 || d.len() == 1); }
        }
    }
}
