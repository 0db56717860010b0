//! The test cluster itself: a manifest applied with kubectl survives an API
//! server restart, and with controllers a Deployment becomes Available on
//! the fake node.

use ferry_test_support::kube::KubeCluster;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn api_server_serves_and_survives_a_restart() {
    let mut c = KubeCluster::start_api();
    c.apply_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe, namespace: default}\ndata: {k: v1}\n");
    c.restart_apiserver();
    let out = c.kubectl(&["get", "cm", "probe", "-o", "jsonpath={.data.k}"]);
    assert_eq!(
        stdout(&out),
        "v1",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn controllers_make_a_deployment_available() {
    let c = KubeCluster::start_with_controllers();
    c.apply_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n\
         spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: example.invalid/web:1}]}\n",
    );
    let out = c.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deploy/web",
        "--timeout=60s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ready = c.kubectl(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    assert_eq!(stdout(&ready), "2");
}
