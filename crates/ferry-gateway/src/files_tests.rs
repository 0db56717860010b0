//! Tests of loading the gateway's manifest files.

use super::*;

const SPLIT: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - {destination: {host: web, subset: v1}, weight: 50}
    - {destination: {host: web, subset: v2}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8000}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}
  - {address: 127.0.0.2, labels: {version: v2}}
"#;

fn load_one(text: &str) -> Result<Manifests, Problems> {
    load(&[("routes.yaml".to_string(), text.to_string())])
}

#[test]
fn service_entries_become_services_and_the_rest_routes() {
    let m = load_one(SPLIT).unwrap();
    let kinds: Vec<_> = m
        .objects
        .iter()
        .map(|o| o.group_kind.kind.as_str())
        .collect();
    assert_eq!(kinds, ["Gateway", "DestinationRule", "VirtualService"]);
    let key = service_key("web", "default");
    let web = &m.services.services[&key];
    assert_eq!(web.ports[0].app_protocol.as_deref(), Some("http"));
    let eps: Vec<_> = web
        .endpoints
        .iter()
        .map(|e| {
            (
                e.target(80).unwrap().to_string(),
                e.labels["version"].as_str(),
                e.ready,
            )
        })
        .collect();
    // The endpoint's named port wins, then the entry's targetPort.
    assert_eq!(
        eps,
        [
            ("127.0.0.1:9001".to_string(), "v1", true),
            ("127.0.0.2:8000".to_string(), "v2", true)
        ]
    );
}

#[test]
fn hosts_resolve_in_the_entry_namespace() {
    let text = SPLIT.replace("metadata: {name: web}\nspec:\n  hosts: [web]",
        "metadata: {name: web, namespace: shop}\nspec:\n  hosts: [web, api.other.svc.cluster.local]");
    let m = load_one(&text).unwrap();
    let keys: Vec<String> = m.services.services.keys().map(|k| k.to_string()).collect();
    assert_eq!(keys, ["other/api", "shop/web"]);
}

#[test]
fn other_kinds_are_refused_by_file_and_document() {
    let err =
        load_one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("routes.yaml: document 0: field `kind`: Deployment.apps is not served"),
        "{msg}"
    );
}

#[test]
fn bad_endpoints_name_their_field() {
    for (from, to, field) in [
        (
            "address: 127.0.0.2",
            "address: web-2",
            "spec.endpoints[1].address",
        ),
        (
            "ports: {http: 9001}",
            "ports: {grpc: 9001}",
            "spec.endpoints[0].ports.grpc",
        ),
        ("resolution: STATIC", "resolution: DNS", "spec.resolution"),
        (
            "targetPort: 8000",
            "targetPort: 8000, apps: 1",
            "spec.ports[0].apps",
        ),
    ] {
        let err = load_one(&SPLIT.replace(from, to)).unwrap_err().to_string();
        assert!(
            err.contains(&format!("(ServiceEntry/web): field `{field}`")),
            "{to}: {err}"
        );
    }
}

#[test]
fn routing_problems_and_entry_problems_come_together() {
    let text = SPLIT
        .replace(
            "weight: 50}\n    - {destination",
            "wieght: 50}\n    - {destination",
        )
        .replace("address: 127.0.0.2", "address: nowhere");
    let err = load_one(&text).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
}

#[test]
fn a_service_declared_twice_is_refused() {
    let entry = SPLIT.split("---").last().unwrap();
    let text = format!("{entry}---{}", entry.replace("name: web}", "name: web2}"));
    let err = load_one(&text).unwrap_err().to_string();
    assert!(
        err.contains("Service default/web is declared twice"),
        "{err}"
    );
}
