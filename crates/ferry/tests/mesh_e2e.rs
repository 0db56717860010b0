//! The mesh path end to end, through the real binary: `ferry up`, two
//! versions of a web Deployment behind one Service, a client pod, and Istio
//! rules with no gateways applied with the CLI. Requests the client pod
//! makes to `web:80` (busybox `nc`, run with `ferry exec`) follow the
//! VirtualService: header `end-user: jason` goes to subset v2, the rest to
//! v1; then an abort fault makes every call answer 500.

use std::time::Duration;

use ferry_test_support::{poll, temp_dir, topology_yaml};
use nix::sys::signal::Signal;
use serde_json::Value;

mod common;
use common::{cli, up};

/// `ferry apply` of one YAML text; panics with ferry's stderr on failure.
fn apply(api: &str, dir: &std::path::Path, name: &str, yaml: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    let out = cli(api, &["apply", "-f", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "apply {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn web(version: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-{version}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web, version: {version}}}}}\n  template:\n    metadata: {{labels: {{app: web, version: {version}}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: web:{version}\n        imagePullPolicy: Never\n        ports: [{{containerPort: 8080, name: http}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}\n"
    )
}

const SERVICE_AND_CLIENT: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, labels: {app: client}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: client, image: 'tools:1', imagePullPolicy: Never}]\n";

const DESTINATION_RULE: &str = "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n";

const HEADER_ROUTING: &str = "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - match: [{headers: {end-user: {exact: jason}}}]\n    route: [{destination: {host: web, subset: v2}}]\n  - route: [{destination: {host: web, subset: v1}}]\n";

const ABORT: &str = "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - fault:\n      abort: {percentage: {value: 100}, httpStatus: 500}\n    route: [{destination: {host: web, subset: v1}}]\n";

/// One HTTP/1.1 GET of `web:80/` from inside the client pod (busybox nc;
/// its wget crashes), with `extra` header lines; (status, body) when an
/// answer with a status line came back. `printf | nc` half-closes right
/// after the request; the gateway answers anyway (HTTP/1 half-close).
fn call(api: &str, extra: &str) -> Option<(u16, String)> {
    let script = format!(
        "printf 'GET / HTTP/1.1\\r\\nHost: web\\r\\n{extra}Connection: close\\r\\n\\r\\n' | nc -w 3 web 80"
    );
    let out = cli(api, &["exec", "client", "--", "sh", "-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var("FERRY_TEST_DEBUG").is_ok() {
        eprintln!(
            "call {extra:?}: {text:?} {} {:?}",
            String::from_utf8_lossy(&out.stderr),
            out.status
        );
    }
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    let mut parts = status.split_whitespace();
    (parts.next()? == "HTTP/1.1").then_some(())?;
    let code = parts.next()?.parse().ok()?;
    Some((code, body.to_string()))
}

const JASON: &str = "end-user: jason\\r\\n";

fn ready_pods(api: &str) -> usize {
    let out = cli(api, &["get", "pods", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|p| {
            p.pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

#[test]
fn mesh_rules_route_and_abort_pod_to_service_calls() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    for v in ["v1", "v2"] {
        ferry_image::build::busybox::httpd_image(v, 8080)
            .unwrap()
            .build(&store, Some(&format!("web:{v}")))
            .unwrap();
    }
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .cmd(["sleep", "3600"])
        .build(&store, Some("tools:1"))
        .unwrap();

    let (mut up, api) = up(&topo, dir.path());
    let yaml = format!("{}---\n{}---\n{SERVICE_AND_CLIENT}", web("v1"), web("v2"));
    apply(&api, dir.path(), "app.yaml", &yaml);
    // web-v1, web-v2 and the client.
    poll("three ready pods", Duration::from_secs(40), || {
        (ready_pods(&api) == 3).then_some(())
    });

    // Without rules the Service balances over both versions.
    poll("client reaches web", Duration::from_secs(20), || {
        call(&api, "").filter(|(code, _)| *code == 200)
    });

    let out = apply(
        &api,
        dir.path(),
        "rules.yaml",
        &format!("{DESTINATION_RULE}---\n{HEADER_ROUTING}"),
    );
    assert!(out.contains("virtualservice"), "{out}");
    // Rules take effect once the gateway has compiled them.
    poll("jason routed to v2", Duration::from_secs(10), || {
        (call(&api, JASON) == Some((200, "v2\n".into()))).then_some(())
    });
    for _ in 0..3 {
        assert_eq!(
            call(&api, JASON),
            Some((200, "v2\n".into())),
            "end-user: jason → v2"
        );
        assert_eq!(call(&api, ""), Some((200, "v1\n".into())), "others → v1");
        assert_eq!(
            call(&api, "end-user: bob\\r\\n"),
            Some((200, "v1\n".into())),
            "another user → v1"
        );
    }

    apply(&api, dir.path(), "abort.yaml", ABORT);
    poll("abort fault", Duration::from_secs(10), || {
        (call(&api, "").map(|(code, _)| code) == Some(500)).then_some(())
    });
    for extra in ["", JASON] {
        assert_eq!(call(&api, extra).map(|(c, _)| c), Some(500), "{extra:?}");
    }

    up.signal(Signal::SIGINT);
    up.wait_timeout(Duration::from_secs(30))
        .expect("ferry stops on SIGINT");
}
