//! Tests of the traffic page: a real route table compiled from an Ingress
//! and a weighted VirtualService with a fault and a mirror, samples read
//! from real gateway metrics, and the sparklines.

use std::sync::Arc;

use ferry_gateway::metrics::{Metrics, RequestKey, RequestSample};

use super::*;
use crate::traffic::{Sampler, TrafficSource, rules};

pub(crate) const ROUTES: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  http:
  - match: [{uri: {prefix: /v2}}, {headers: {end-user: {exact: jason}}}]
    route:
    - {destination: {host: api, subset: v1}, weight: 90}
    - {destination: {host: api, subset: v2}, weight: 10}
    fault: {abort: {httpStatus: 503, percentage: {value: 5}}}
    mirror: {host: api, subset: v3}
    mirrorPercentage: {value: 50}
  - route: [{destination: {host: api, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
";

/// The table `ROUTES` compiles to.
pub(crate) fn table() -> Arc<ferry_gateway::table::RouteTable> {
    let m = ferry_gateway::files::load(&[("routes.yaml".into(), ROUTES.into())]).unwrap();
    Arc::new(ferry_gateway::compile::compile(&m.objects).unwrap())
}

pub(crate) fn source(metrics: &Metrics) -> TrafficSource {
    let t = table();
    TrafficSource {
        metrics: metrics.clone(),
        table: Arc::new(move || t.clone()),
        every: std::time::Duration::from_secs(10),
    }
}

#[test]
fn every_rule_shows_its_matches_weights_fault_and_mirror() {
    let rules = rules(&table(), |_| vec![]);
    let north: Vec<_> = rules.iter().filter(|r| r.direction == "north").collect();
    assert_eq!(north.len(), 1, "{rules:#?}");
    assert_eq!(north[0].host, "shop.example");
    assert_eq!(north[0].destinations[0].key.service, "web.shop");
    let mesh: Vec<_> = rules.iter().filter(|r| r.direction == "mesh").collect();
    assert_eq!(mesh.len(), 2, "{rules:#?}");
    assert_eq!(
        mesh[0].matches.len(),
        2,
        "two match blocks: {:?}",
        mesh[0].matches
    );
    assert!(
        mesh[0].matches[1].contains("end-user"),
        "{:?}",
        mesh[0].matches
    );
    assert!(mesh[0].target.contains("90%") && mesh[0].target.contains("10%"));
    assert!(
        mesh[0].policies.contains("abort 503"),
        "{}",
        mesh[0].policies
    );
    assert!(
        mesh[0].policies.contains("mirror api.shop[v3] 50%"),
        "{}",
        mesh[0].policies
    );
    let weights: Vec<f64> = mesh[0].destinations.iter().map(|d| d.percent).collect();
    assert_eq!(weights, [90.0, 10.0]);
    assert_eq!(mesh[1].matches, ["*"]);
    let page = traffic(&rules, 0.0, 10);
    assert!(page.contains("<h2>Entering the region</h2>") && page.contains("<h2>Mesh"));
    assert!(page.contains("<code>api.shop[v2]</code> <span class=\"note\">10%</span>"));
    assert!(page.contains("data-poll=\"/ui/traffic/live\""));
}

#[test]
fn samples_from_the_gateways_metrics_reach_the_charts() {
    let metrics = Metrics::default();
    let src = source(&metrics);
    let sampler = Sampler::new(&src);
    let t = table();
    let rule = rules(&t, |_| vec![])[1].rule.clone();
    let key = RequestKey {
        direction: "mesh",
        route: &rule,
        service: Some(("api", "shop")),
        subset: "v1",
        status: 200,
    };
    let sample = |seconds| RequestSample {
        seconds,
        request_bytes: 0,
        response_bytes: 0,
    };
    sampler.sample(1000.0);
    for _ in 0..95 {
        metrics.record_request(&key, sample(0.004));
    }
    for _ in 0..5 {
        metrics.record_request(&RequestKey { status: 503, ..key }, sample(0.2));
    }
    sampler.sample(1010.0);
    let rules = rules(&t, |k| sampler.series(k));
    let v1 = &rules[1].destinations[0];
    assert_eq!(v1.points.len(), 1);
    assert_eq!(v1.points[0].rate, 10.0);
    assert_eq!(v1.points[0].success, Some(0.95));
    let block = dest_block(v1, 1010.0);
    assert!(
        block.contains("<span class=\"num\">10.0</span> req/s"),
        "{block}"
    );
    assert!(
        block.contains("<span class=\"num\">95.0</span> %"),
        "{block}"
    );
    let p99 = v1.points[0].p99.unwrap();
    assert!((0.128..=0.256).contains(&p99), "{p99}");
    assert!(block.contains(&format!("<span class=\"num\">{:.1}</span> ms", p99 * 1e3)));
    let v2 = &rules[1].destinations[1];
    assert!(v2.points.is_empty());
    assert!(dest_block(v2, 1010.0).contains("<span class=\"num\">–</span> %"));
    let live = patches(&rules, 1010.0);
    let ids: Vec<&str> = live["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "one block per destination of every rule");
    assert!(ids.contains(&dest_id(&v1.key).as_str()));
}

#[test]
fn sparklines_have_a_fixed_size_place_points_by_time_and_break_at_gaps() {
    let s = sparkline(
        &[(100.0, Some(0.0)), (550.0, Some(1.0))],
        1000.0,
        1.0,
        "x<y",
    );
    assert!(
        s.starts_with("<svg class=\"spark\" width=\"120\" height=\"28\""),
        "{s}"
    );
    assert!(s.contains("aria-label=\"x&lt;y\""));
    // 900 s ago is the left edge, now the right (1 px in); 0 at the bottom.
    assert!(s.contains("d=\"M1.0,26.0 L60.0,2.0\""), "{s}");
    let gap = sparkline(
        &[(990.0, Some(1.0)), (995.0, None), (1000.0, Some(1.0))],
        1000.0,
        2.0,
        "",
    );
    assert!(
        gap.contains("d=\"M117.7,14.0 l0,0 M119.0,14.0 l0,0\""),
        "a gap starts a new segment, lone points are dots: {gap}"
    );
    assert!(sparkline(&[], 0.0, 0.0, "").contains("d=\"\""));
}

#[test]
fn ids_are_stable_and_differ_by_destination() {
    let k = |s: &str| DestKey {
        route: "r".into(),
        service: "api.shop".into(),
        subset: s.into(),
    };
    assert_eq!(dest_id(&k("v1")), dest_id(&k("v1")));
    assert_ne!(dest_id(&k("v1")), dest_id(&k("v2")));
    assert!(dest_id(&k("v1")).starts_with("t-"));
}
