//! Tests of reading the gateway's metrics: real `Metrics` recording
//! requests, read back per destination; the quantile estimate.

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
