//! Reading the gateway's own request metrics: its `requests` counter and
//! `request_duration_seconds` histogram families (ferry-gateway
//! `metrics.rs`), encoded in the OpenMetrics text format exactly as
//! `/metrics` serves them and parsed back into cumulative [`Totals`] per
//! destination ([`DestKey`]: the route's rule, the destination Service,
//! its subset). Directions and response codes are added up; a 5xx answer
//! counts as an error. prometheus-client exposes histogram buckets only
//! through its encoder, hence text.

use std::collections::BTreeMap;

use ferry_gateway::metrics::Metrics;
use prometheus_client::registry::Registry;

/// One destination of one route: the labels the gateway counts under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    /// The rule's name (`Kind/namespace/name/rule`).
    pub route: String,
    /// `service.namespace`.
    pub service: String,
    /// The subset, or empty.
    pub subset: String,
}

/// Cumulative counts of one destination since the gateway started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Duration buckets: upper bound in seconds (the last `+Inf`) and the
    /// cumulative count of requests at most that long, bounds ascending.
    pub buckets: Vec<(f64, u64)>,
}

/// Encodes the gateway's request families on demand.
#[derive(Debug)]
pub struct Scraper {
    registry: Registry,
}

impl Scraper {
    /// A reader of `metrics` (the handles are shared, so it sees every
    /// request the gateway records from now on and before).
    pub fn new(metrics: &Metrics) -> Scraper {
        let mut registry = Registry::default();
        registry.register("gateway_requests", "", metrics.requests.clone());
        registry.register(
            "gateway_request_duration_seconds",
            "",
            metrics.duration.clone(),
        );
        Scraper { registry }
    }

    /// Every destination's totals now.
    pub fn read(&self) -> BTreeMap<DestKey, Totals> {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return BTreeMap::new();
        }
        parse(&text)
    }
}

/// Totals from the text encoding of the two families; lines of other
/// metrics and requests without a destination are skipped.
pub fn parse(text: &str) -> BTreeMap<DestKey, Totals> {
    let mut out: BTreeMap<DestKey, Totals> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, labels, value)) = split_line(line) else {
            continue;
        };
        let get = |k: &str| {
            labels
                .iter()
                .find(|(n, _)| n == k)
                .map_or("", |(_, v)| v.as_str())
        };
        let service = get("destination_service");
        if service.is_empty() {
            continue;
        }
        let key = DestKey {
            route: get("route").into(),
            service: service.into(),
            subset: get("destination_subset").into(),
        };
        let count = value as u64;
        match name {
            "gateway_requests_total" => {
                let t = out.entry(key).or_default();
                t.requests += count;
                if get("response_code").starts_with('5') {
                    t.errors += count;
                }
            }
            "gateway_request_duration_seconds_bucket" => {
                let le = match get("le") {
                    "+Inf" => f64::INFINITY,
                    v => match v.parse() {
                        Ok(x) => x,
                        Err(_) => continue,
                    },
                };
                add_bucket(&mut out.entry(key).or_default().buckets, le, count);
            }
            _ => {}
        }
    }
    out
}

fn add_bucket(buckets: &mut Vec<(f64, u64)>, le: f64, count: u64) {
    match buckets.iter_mut().find(|(b, _)| *b == le) {
        Some((_, c)) => *c += count,
        None => {
            buckets.push((le, count));
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
}

/// Label names and values, in order.
type Labels = Vec<(String, String)>;

/// `name{k="v",...} value` → its parts (label values unescaped).
fn split_line(line: &str) -> Option<(&str, Labels, f64)> {
    let open = line.find('{')?;
    let close = line.rfind('}')?;
    let name = &line[..open];
    let value = line[close + 1..].split_whitespace().next()?.parse().ok()?;
    Some((name, labels(&line[open + 1..close]), value))
}

fn labels(s: &str) -> Labels {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(x) => value.push(x),
                    None => {}
                },
                c => value.push(c),
            }
        }
        out.push((name.trim_start_matches(',').to_string(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// The `q` quantile of the requests counted in cumulative `buckets`, as
/// Prometheus' `histogram_quantile` estimates it (linear within a bucket;
/// the highest finite bound when it falls in `+Inf`). `None` without
/// requests.
pub fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(le, cum) in buckets {
        if cum as f64 >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = (cum - below) as f64;
            let frac = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                0.0
            };
            return Some(lower + (le - lower) * frac);
        }
        (lower, below) = (le, cum);
    }
    Some(lower)
}

#[cfg(test)]
#[path = "scrape_tests.rs"]
mod tests;
