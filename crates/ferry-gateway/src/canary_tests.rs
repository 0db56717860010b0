//! The overlay on compiled tables: only unsubsetted forwards to a split
//! Service are split, other destinations keep their proportions, and the
//! stable subset excludes canary pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_core::mesh::ServiceKey;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::traffic::{CANARY_LABEL, Split};

use super::*;
use crate::table::Action;

fn ingress() -> Vec<Arc<StoredObject>> {
    let y = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec:\n  rules:\n  - host: web.test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n      - {path: /other, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}\n";
    let v = ferry_core::yaml::parse_documents("t.yaml", y).unwrap()[0]
        .value
        .clone();
    vec![Arc::new(StoredObject {
        group_kind: GroupKind::of("networking.k8s.io/v1", "Ingress"),
        namespace: Some("shop".into()),
        name: "web".into(),
        source: "t.yaml".into(),
        value: v,
    })]
}

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "shop".into(),
        name: name.into(),
    }
}

fn weights(table: &RouteTable, service: &str) -> Vec<(Option<String>, u32)> {
    table.north[0]
        .rules
        .iter()
        .filter_map(|r| match &r.action {
            Action::Forward(f) => Some(f),
            _ => None,
        })
        .flat_map(|f| f.destinations.iter())
        .filter(|d| d.dest.service.name == service)
        .map(|d| (d.dest.subset.clone(), d.weight))
        .collect()
}

#[test]
fn a_split_service_forwards_to_both_subsets_at_its_weights() {
    let mut table = crate::compile::compile(&ingress()).unwrap();
    let splits = BTreeMap::from([(
        key("web"),
        Split {
            deployment: "web".into(),
            canary_weight: 20,
            ..Default::default()
        },
    )]);
    overlay(&mut table, &splits);
    assert_eq!(
        weights(&table, "web"),
        vec![(Some(STABLE.into()), 80), (Some(CANARY.into()), 20)]
    );
    assert_eq!(weights(&table, "other"), vec![(None, 100)]);
    let p = &table.policies[&key("web")];
    let pod = |canary: bool| {
        let mut l = BTreeMap::from([("app".to_string(), "web".to_string())]);
        if canary {
            l.insert(CANARY_LABEL.into(), "web".into());
        }
        l
    };
    assert!(p.subsets[STABLE].matches(&pod(false)));
    assert!(!p.subsets[STABLE].matches(&pod(true)));
    assert!(p.subsets[CANARY].matches(&pod(true)));
    assert!(!p.subsets[CANARY].matches(&pod(false)));
}

#[test]
fn weight_zero_and_hundred_leave_one_destination() {
    for (w, subset) in [(0, STABLE), (100, CANARY)] {
        let mut table = crate::compile::compile(&ingress()).unwrap();
        let s = Split {
            deployment: "web".into(),
            canary_weight: w,
            ..Default::default()
        };
        overlay(&mut table, &BTreeMap::from([(key("web"), s)]));
        assert_eq!(weights(&table, "web"), vec![(Some(subset.into()), 100)]);
    }
}

/// Where a GET of `path` with `headers` goes: its rule's destinations
/// (subset, weight) and mirrors (subset, percent).
type Routed = (Vec<(Option<String>, u32)>, Vec<(Option<String>, f64)>);

fn route(table: &RouteTable, path: &str, headers: &[(&str, &str)]) -> Routed {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let view = crate::select::RequestView {
        host: "web.test",
        path,
        query: None,
        method: "GET",
        scheme: "http",
        port: 80,
        headers: &h,
        source_labels: None,
    };
    let (rule, _) = crate::select::first_rule(&table.north[0].rules, &view).unwrap();
    let Action::Forward(f) = &rule.action else {
        panic!("not a forward")
    };
    let d = f.destinations.iter();
    let m = f.mirrors.iter();
    (
        d.map(|d| (d.dest.subset.clone(), d.weight)).collect(),
        m.map(|m| (m.dest.subset.clone(), m.percent)).collect(),
    )
}

fn with_routes(y: &str) -> RouteTable {
    let doc = ferry_core::yaml::parse_documents("t.yaml", y).unwrap();
    let steps: Vec<ferry_core::rollout_spec::CanaryStep> =
        serde_json::from_value(doc[0].value.clone()).unwrap();
    let mut s = Split {
        deployment: "web".into(),
        canary_weight: 10,
        ..Default::default()
    };
    for step in steps {
        match step {
            ferry_core::rollout_spec::CanaryStep::SetHeaderRoute(h) => s.header_routes.push(h),
            ferry_core::rollout_spec::CanaryStep::SetMirrorRoute(m) => s.mirror_routes.push(m),
            _ => {}
        }
    }
    let mut table = crate::compile::compile(&ingress()).unwrap();
    overlay(&mut table, &BTreeMap::from([(key("web"), s)]));
    table
}

#[test]
fn tagged_requests_go_to_the_canary_and_the_others_keep_the_weights() {
    let t = with_routes(
        "- setHeaderRoute: {name: testers, match: [{headerName: X-Tester, headerValue: {exact: yes}}, {headerName: x-team, headerValue: {prefix: pay}}]}\n",
    );
    let canary = (vec![(Some(CANARY.into()), 100)], vec![]);
    let split = (
        vec![(Some(STABLE.into()), 90), (Some(CANARY.into()), 10)],
        vec![],
    );
    let tagged = [("x-tester", "yes"), ("x-team", "payments")];
    assert_eq!(route(&t, "/a", &tagged), canary);
    // Every header must match; other Services are left alone.
    assert_eq!(route(&t, "/a", &tagged[..1]), split);
    assert_eq!(route(&t, "/a", &[("x-tester", "no"), tagged[1]]), split);
    assert_eq!(route(&t, "/other", &tagged), (vec![(None, 100)], vec![]));
    assert!(t.policies[&key("web")].subsets.contains_key(CANARY));
}

#[test]
fn mirror_routes_copy_matching_requests_to_the_mirror_subset() {
    let t = with_routes(
        "- setMirrorRoute: {name: gets, percentage: 40, match: [{path: {prefix: /api}, headers: {x-shadow: {regex: 'y.s'}}}]}\n",
    );
    let split = vec![(Some(STABLE.into()), 90), (Some(CANARY.into()), 10)];
    let mirrored = route(&t, "/api/x", &[("x-shadow", "yes")]);
    assert_eq!(mirrored, (split.clone(), vec![(Some(MIRROR.into()), 40.0)]));
    assert_eq!(
        route(&t, "/api/x", &[("x-shadow", "yess")]),
        (split.clone(), vec![])
    );
    assert_eq!(
        route(&t, "/b", &[("x-shadow", "yes")]),
        (split.clone(), vec![])
    );

    // With a percentage and no matches every request of the Service is.
    let t = with_routes(
        "- setMirrorRoute: {name: all, percentage: 100}\n- setMirrorRoute: {name: half, percentage: 50}\n",
    );
    let (_, mirrors) = route(&t, "/b", &[]);
    assert_eq!(
        mirrors,
        [(Some(MIRROR.into()), 100.0), (Some(MIRROR.into()), 50.0)]
    );
    assert_eq!(route(&t, "/other", &[]).1, []);
    let mirror = &t.policies[&key("web")].subsets[MIRROR];
    let canary_pod = BTreeMap::from([(CANARY_LABEL.to_string(), "web".to_string())]);
    assert!(mirror.matches(&canary_pod));
    assert!(!mirror.matches(&BTreeMap::new()));
}

#[test]
fn a_canary_fault_delays_only_its_own_pods_calls() {
    let mut table = crate::compile::compile(&ingress()).unwrap();
    let s = Split {
        deployment: "web".into(),
        canary_delay: Some((std::time::Duration::from_millis(200), 100)),
        ..Default::default()
    };
    overlay(&mut table, &BTreeMap::from([(key("web"), s)]));
    let from = |labels: &[(&str, &str)]| crate::proxy::Direction::Mesh {
        service: key("db"),
        port: 5432,
        source: ferry_core::mesh::SourcePod {
            namespace: "shop".into(),
            pod: "p".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    };
    let delay = Some(std::time::Duration::from_millis(200));
    assert_eq!(canary_delay(&table, &from(&[(CANARY_LABEL, "web")])), delay);
    assert_eq!(canary_delay(&table, &from(&[("app", "web")])), None);
    assert_eq!(canary_delay(&table, &from(&[(CANARY_LABEL, "api")])), None);
    assert_eq!(canary_delay(&table, &crate::proxy::Direction::North), None);
}

#[test]
fn mesh_calls_to_a_service_without_rules_are_split_and_header_routed() {
    let default = |service: &str| Rule {
        name: format!("default/{service}"),
        matches: vec![],
        action: Action::Forward(Box::new(crate::table::Forward {
            destinations: vec![WeightedDestination {
                dest: crate::table::Destination {
                    service: key(service),
                    subset: None,
                    port: Some(80),
                },
                weight: 100,
                request_headers: Default::default(),
                response_headers: Default::default(),
            }],
            ..Default::default()
        })),
        request_headers: Default::default(),
        response_headers: Default::default(),
        cors: None,
        chain_mesh: false,
    };
    let subsets = |rules: &[Rule]| -> Vec<Vec<(Option<String>, u32)>> {
        rules
            .iter()
            .map(|r| match &r.action {
                Action::Forward(f) => f
                    .destinations
                    .iter()
                    .map(|d| (d.dest.subset.clone(), d.weight))
                    .collect(),
                _ => vec![],
            })
            .collect()
    };
    let mut table = RouteTable::default();
    assert_eq!(fallback_rules(&table, default("web")).len(), 1);
    let hr = "{name: t, match: [{headerName: x-t, headerValue: {exact: '1'}}]}";
    let doc = ferry_core::yaml::parse_documents("t.yaml", hr).unwrap();
    let s = Split {
        deployment: "web".into(),
        canary_weight: 30,
        header_routes: vec![serde_json::from_value(doc[0].value.clone()).unwrap()],
        ..Default::default()
    };
    overlay(&mut table, &BTreeMap::from([(key("web"), s)]));
    let rules = fallback_rules(&table, default("web"));
    assert_eq!(
        subsets(&rules),
        [
            vec![(Some(CANARY.into()), 10000)],
            vec![(Some(STABLE.into()), 7000), (Some(CANARY.into()), 3000)],
        ]
    );
    assert_eq!(rules[0].matches[0].headers[0].0, "x-t");
    let other = fallback_rules(&table, default("db"));
    assert_eq!(subsets(&other), [vec![(None, 10000)]]);
}
