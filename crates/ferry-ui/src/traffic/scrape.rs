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
mod tests {
    // Tests of reading the gateway's metrics: real `Metrics` recording
    // requests, read back per destination; the quantile estimate.
    use ferry_gateway::metrics::{Metrics, RequestKey, RequestSample};

    use super::*;

    fn key(route: &'static str, subset: &'static str, status: u16) -> RequestKey<'static> {
        RequestKey {
            direction: "north",
            route,
            service: Some(("web", "shop")),
            subset,
            status,
        }
    }

    fn record(m: &Metrics, k: &RequestKey<'_>, seconds: f64, n: usize) {
        for _ in 0..n {
            m.record_request(
                k,
                RequestSample {
                    seconds,
                    request_bytes: 0,
                    response_bytes: 10,
                },
            );
        }
    }

    #[test]
    fn requests_errors_and_durations_are_read_per_destination() {
        let m = Metrics::default();
        let scraper = Scraper::new(&m);
        assert!(scraper.read().is_empty(), "nothing recorded yet");
        record(&m, &key("VirtualService/shop/web/0", "v1", 200), 0.002, 90);
        record(&m, &key("VirtualService/shop/web/0", "v1", 503), 0.002, 10);
        record(&m, &key("VirtualService/shop/web/0", "v2", 200), 0.3, 4);
        let unrouted = RequestKey {
            service: None,
            subset: "",
            ..key("", "", 404)
        };
        record(&m, &unrouted, 0.001, 3);
        let read = scraper.read();
        assert_eq!(read.len(), 2, "{read:?}");
        let v1 = &read[&DestKey {
            route: "VirtualService/shop/web/0".into(),
            service: "web.shop".into(),
            subset: "v1".into(),
        }];
        assert_eq!((v1.requests, v1.errors), (100, 10));
        assert_eq!(v1.buckets.last(), Some(&(f64::INFINITY, 100)));
        let v2 = read.values().nth(1).unwrap();
        assert_eq!((v2.requests, v2.errors), (4, 0));
        let p99 = quantile(0.99, &v2.buckets).unwrap();
        assert!(
            (0.256..=0.512).contains(&p99),
            "0.3 s lies in (0.256, 0.512]: {p99}"
        );
        let p99 = quantile(0.99, &v1.buckets).unwrap();
        assert!((0.001..=0.002).contains(&p99), "{p99}");
    }

    #[test]
    fn label_values_with_quotes_and_commas_are_unescaped() {
        let text = "gateway_requests_total{direction=\"north\",route=\"a,\\\"b\\\"\",destination_service=\"s.ns\",destination_subset=\"\",response_code=\"500\"} 7\n";
        let read = parse(text);
        let (k, t) = read.iter().next().unwrap();
        assert_eq!(k.route, "a,\"b\"");
        assert_eq!((t.requests, t.errors), (7, 7));
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket_and_stop_at_infinity() {
        let b = [(0.1, 50), (0.2, 100), (f64::INFINITY, 100)];
        assert_eq!(quantile(0.5, &b), Some(0.1));
        let p75 = quantile(0.75, &b).unwrap();
        assert!((p75 - 0.15).abs() < 1e-9, "{p75}");
        let slow = [(0.1, 0), (f64::INFINITY, 10)];
        assert_eq!(quantile(0.99, &slow), Some(0.1), "the last finite bound");
        assert_eq!(quantile(0.99, &[(0.1, 0), (f64::INFINITY, 0)]), None);
        assert_eq!(quantile(0.99, &[]), None);
    }
}
