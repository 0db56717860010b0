//! `ferry up` with the runtime, through the real binary: apply with the CLI,
//! SIGKILL ferry, start it again — the service keeps answering, the
//! running pods are re-adopted (same pods, no duplicates); Ctrl-C then
//! stops every container.

use std::process::Command;
use std::time::Duration;

use ferry_test_support::{free_port, http_ok, poll, temp_dir, topology_yaml};
use nix::sys::signal::Signal;
use serde_json::Value;

mod common;
use common::{cli, up};

fn pod_names(api: &str) -> Vec<String> {
    let out = cli(api, &["get", "pods", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut names: Vec<String> = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn sigkilled_ferry_restarts_readopts_pods_and_service_keeps_answering() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let store = ferry_image::Store::open(dir.path().join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, Some("web:v1"))
        .unwrap();
    let node_port = free_port();
    let manifest = dir.path().join("web.yaml");
    std::fs::write(&manifest, format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: web:v1\n        imagePullPolicy: Never\n        ports: [{{containerPort: 8080}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: NodePort\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080, nodePort: {node_port}}}]\n"
    )).unwrap();
    let url = format!("http://127.0.0.1:{node_port}/");

    let (mut first, api) = up(&topo, dir.path());
    let out = cli(&api, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deployment.apps/web created\nservice/web created\n"
    );
    poll("service answers", Duration::from_secs(60), || {
        http_ok(&url).then_some(())
    });
    let before = pod_names(&api);
    assert_eq!(before.len(), 2, "{before:?}");

    first.signal(Signal::SIGKILL);
    first
        .wait_timeout(Duration::from_secs(10))
        .expect("ferry exits on SIGKILL");
    let (mut second, api) = up(&topo, dir.path());
    // It says what the killed ferry left and that it re-adopts it.
    let log = second.stderr();
    assert!(
        log.contains("did not shut down")
            && log.contains("2 container(s)")
            && log.contains("re-adopting"),
        "{log}"
    );
    poll(
        "service answers after restart",
        Duration::from_secs(30),
        || http_ok(&url).then_some(()),
    );
    // Converged on the same pods: re-adopted, none duplicated.
    poll("same two pods", Duration::from_secs(30), || {
        (pod_names(&api) == before).then_some(())
    });
    for _ in 0..20 {
        assert!(http_ok(&url));
    }
    let get = cli(&api, &["get", "deploy", "web"]);
    assert!(
        String::from_utf8_lossy(&get.stdout).contains("web    2/2"),
        "{}",
        String::from_utf8_lossy(&get.stdout)
    );

    second.signal(Signal::SIGINT);
    second
        .wait_timeout(Duration::from_secs(30))
        .expect("ferry stops on SIGINT");
    let runc_root = dir.path().join("local/runtime/runc");
    let left = Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "containers left after Ctrl-C"
    );
    assert!(!http_ok(&url));
}
