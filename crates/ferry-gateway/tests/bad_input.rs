//! Bad routing objects are rejected as a whole with errors naming the
//! object and field, and the previous routing stays in force.

mod common;

use common::*;

fn expect_error(gw: &ferry_gateway::Gateway, yaml: &str, needles: &[&str]) {
    let err = gw
        .apply(objects(yaml))
        .expect_err("must be rejected")
        .to_string();
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_are_rejected_and_previous_routing_stays() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-ui",
        vec![v1.endpoint("ui-v1"), v2.endpoint("ui-v2")],
    )]);
    let vs = |http: &str| {
        format!(
            "{UI_DESTINATION_RULE}---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {{name: myhero-ui}}\nspec:\n  hosts: [ui.myhero.test]\n  gateways: [myhero-gateway]\n  http:\n{http}"
        )
    };
    let gw = gateway(
        snap,
        &vs("  - route:\n    - destination: {host: myhero-ui, subset: v1}\n"),
    )
    .await;
    let c = client();
    assert_eq!(get(&c, gw.addr, "ui.myhero.test", "/", &[]).await.1, "v1");

    expect_error(
        &gw.gateway,
        &vs("  - route:\n    - destination: {host: myhero-ui, subset: v9}\n"),
        &[
            "VirtualService/myhero-ui",
            "spec.http[0].route[0].destination.subset",
            "unknown subset \"v9\"",
            "v1, v2, v3",
        ],
    );
    expect_error(
        &gw.gateway,
        &vs(
            "  - route:\n    - destination: {host: myhero-ui, subset: v1}\n      weight: 60\n    - destination: {host: myhero-ui, subset: v2}\n      weight: 60\n",
        ),
        &[
            "VirtualService/myhero-ui",
            "spec.http[0].route",
            "weights sum to 120",
            "must sum to 100",
        ],
    );
    expect_error(
        &gw.gateway,
        &vs(
            "  - match:\n    - uri: {regex: \"/(unclosed\"}\n    route:\n    - destination: {host: myhero-ui}\n",
        ),
        &["spec.http[0].match[0].uri.regex", "invalid regex"],
    );
    expect_error(
        &gw.gateway,
        &vs("  - route:\n    - destination: {host: myhero-ui}\n    timeout: soon\n"),
        &["spec.http[0].timeout", "invalid duration"],
    );
    expect_error(
        &gw.gateway,
        &vs(
            "  - fault:\n      abort: {percentage: {value: 130}, httpStatus: 500}\n    route:\n    - destination: {host: myhero-ui}\n",
        ),
        &[
            "spec.http[0].fault.abort.percentage.value",
            "between 0 and 100",
        ],
    );
    expect_error(
        &gw.gateway,
        &vs("  - rout:\n    - destination: {host: myhero-ui}\n"),
        &["spec.http[0]", "rout", "route"],
    );
    // Two objects claiming the same host and path.
    let dup = format!(
        "{}---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {{name: other}}\nspec:\n  hosts: [ui.myhero.test]\n  gateways: [myhero-gateway]\n  http:\n  - route:\n    - destination: {{host: myhero-ui, subset: v2}}\n",
        vs("  - route:\n    - destination: {host: myhero-ui, subset: v1}\n")
    );
    expect_error(
        &gw.gateway,
        &dup,
        &[
            "already routed by VirtualService/myhero/myhero-ui",
            "host ui.myhero.test",
        ],
    );
    let two_ingresses = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  rules:\n  - host: x.test\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: b}\nspec:\n  rules:\n  - host: x.test\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: t, port: {number: 80}}}}]}\n";
    expect_error(
        &gw.gateway,
        two_ingresses,
        &[
            "Ingress/b",
            "spec.rules[0].http.paths[0]",
            "already routed by Ingress/myhero/a",
        ],
    );

    // Nothing was half-applied.
    for _ in 0..10 {
        assert_eq!(get(&c, gw.addr, "ui.myhero.test", "/", &[]).await.1, "v1");
    }
    assert_eq!(v2.count(), 0);
}

#[test]
fn v1_weights_are_relative() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: 1\n    - destination: {host: ratings}\n      weight: 3\n";
    let table = ferry_gateway::compile::compile(&objects(yaml)).unwrap();
    let rows = ferry_gateway::routes::rows(&table);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].direction, "mesh");
    assert_eq!(rows[0].target, "reviews.myhero 25%, ratings.myhero 75%");
    let zero = yaml
        .replace("weight: 1", "weight: 0")
        .replace("weight: 3", "weight: 0");
    let err = ferry_gateway::compile::compile(&objects(&zero))
        .unwrap_err()
        .to_string();
    assert!(err.contains("weights sum to 0"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Arbitrary specs never panic the compiler: they compile or yield problems.
    #[test]
    fn arbitrary_specs_never_panic(json in arb_json(3)) {
        let obj = ferry_core::objects::StoredObject {
            group_kind: ferry_core::objects::GroupKind::new("networking.istio.io", "VirtualService"),
            namespace: None,
            name: "fuzz".into(),
            source: "fuzz".into(),
            value: serde_json::json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "fuzz"}, "spec": json}),
        };
        let _ = ferry_gateway::compile::compile(&[std::sync::Arc::new(obj)]);
    }
}

fn arb_json(depth: u32) -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    let keys = prop::sample::select(vec![
        "hosts",
        "http",
        "route",
        "destination",
        "host",
        "subset",
        "weight",
        "match",
        "uri",
        "prefix",
        "regex",
        "fault",
        "delay",
        "abort",
        "percentage",
        "value",
        "fixedDelay",
        "httpStatus",
        "mirror",
        "retries",
        "attempts",
        "gateways",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z/*(]{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(depth, 32, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..4).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}
