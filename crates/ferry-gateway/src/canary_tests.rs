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
        };
        overlay(&mut table, &BTreeMap::from([(key("web"), s)]));
        assert_eq!(weights(&table, "web"), vec![(Some(subset.into()), 100)]);
    }
}
