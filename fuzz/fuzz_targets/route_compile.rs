//! Compiling routing objects (Ingress, Gateway API Gateway/HTTPRoute,
//! Istio Gateway/VirtualService/DestinationRule) into the gateway's route
//! table (`ferry_gateway::compile::compile`), from arbitrary YAML turned
//! into stored objects as `apply` stores them. Properties: the verdict and
//! every problem are the same twice; a compiled table lists virtual hosts
//! from most to least specific; every exact host name is reachable by a
//! request that carries it (its normalized `Host` selects a virtual host
//! that matches it); weighted picks stay within a rule's destinations.

#![no_main]

use std::sync::Arc;

use ferry_core::objects::{GroupKind, StoredObject};
use ferry_gateway::select::{normalize_host, pick_weighted, virtual_host};
use ferry_gateway::table::{Action, HostPattern};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn objects(text: &str) -> Vec<Arc<StoredObject>> {
    let Ok(docs) = ferry_core::yaml::parse_documents("routes.yaml", text) else {
        return Vec::new();
    };
    docs.into_iter()
        .filter_map(|d| {
            let v = d.value;
            let api = v.get("apiVersion")?.as_str()?;
            let kind = v.get("kind")?.as_str()?;
            let field = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
            Some(Arc::new(StoredObject {
                group_kind: GroupKind::of(api, kind),
                namespace: Some(field("/metadata/namespace").unwrap_or_else(|| "default".into())),
                name: field("/metadata/name").unwrap_or_else(|| "x".into()),
                source: format!("routes.yaml: document {}", d.index),
                value: v,
            }))
        })
        .collect()
}

fuzz_target!(|text: &str| {
    let objs = objects(text);
    let compiled = ferry_gateway::compile::compile(&objs);
    let again = ferry_gateway::compile::compile(&objs);
    assert_eq!(
        compiled.as_ref().err(),
        again.as_ref().err(),
        "not deterministic"
    );
    let Ok(table) = compiled else { return };
    let _ = ferry_gateway::compile::services(&table);
    let _ = ferry_gateway::select::host_names(&table);
    for pair in table.north.windows(2) {
        assert!(
            pair[0].host.specificity() >= pair[1].host.specificity(),
            "virtual hosts out of order"
        );
    }
    for vh in &table.north {
        if let HostPattern::Exact(h) = &vh.host {
            let host = normalize_host(h);
            let found = virtual_host(&table, &host);
            assert!(
                found.is_some_and(|v| v.host.matches(&host)),
                "exact host `{h}` compiles but a request with `Host: {h}` reaches {:?}",
                found.map(|v| &v.host)
            );
        }
        for rule in &vh.rules {
            let Action::Forward(fwd) = &rule.action else {
                continue;
            };
            let dests = &fwd.destinations;
            for roll in [0.0, 0.5, 0.999_999] {
                if let Some(d) = pick_weighted(dests, roll) {
                    assert!(dests.iter().any(|x| std::ptr::eq(x, d)));
                }
            }
        }
    }
});
