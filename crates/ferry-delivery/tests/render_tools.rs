//! Kustomize and Helm rendering through the delivery engine's renderer
//! with the real binaries: the pinned `kustomize` and `helm` that
//! `scripts/setup.sh --test-peers` builds into the peers directory. The
//! renderer finds them on `PATH`, as it does in production, so each test
//! runs its body in a child of this test binary whose `PATH` starts with
//! the peers directory (a test cannot change its own environment safely).

use std::process::Command;
use std::time::Duration;

use ferry_core::app_spec::{ImageOverride, RenderKind};
use ferry_core::objects::StoredObject;
use ferry_delivery::render::{Files, RenderContext, render};

fn files(list: &[(&str, &str)]) -> Files {
    list.iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

fn ctx<'a>(values: &'a [String], images: &'a [ImageOverride]) -> RenderContext<'a> {
    RenderContext {
        app: "web",
        environment: "dev",
        namespace: "dev",
        revision: "abc1234",
        kind: RenderKind::Auto,
        value_files: values,
        images,
    }
}

/// Runs the ignored test `child` in a child process with the peers
/// directory first on `PATH`, with a deadline; fails with its output.
fn in_child_with_peers(child: &str, tool: &str) {
    let peers = ferry_test_support::peers_dir();
    assert!(
        peers.join(tool).is_file(),
        "{} is missing: run scripts/setup.sh --test-peers",
        peers.join(tool).display()
    );
    let path = format!(
        "{}:{}",
        peers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut proc = Command::new(std::env::current_exe().unwrap());
    proc.args(["--exact", child, "--ignored", "--test-threads=1"])
        .env("PATH", path)
        .env("FERRY_RENDER_CHILD", "1");
    let dir = ferry_test_support::temp_dir();
    let mut p = ferry_test_support::Proc::spawn(child, proc, dir.path());
    let status = p
        .wait_timeout(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("{tool} did not finish within 120 s"));
    assert!(
        status.success(),
        "{child} failed:\n{}\n{}",
        p.stdout(),
        p.stderr()
    );
    assert!(p.stdout().contains("1 passed"), "{}", p.stdout());
}

fn find<'a>(objs: &'a [StoredObject], kind: &str, name: &str) -> &'a StoredObject {
    objs.iter()
        .find(|o| o.group_kind.kind == kind && o.value["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objs:#?}"))
}

const BASE_DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: web, image: 'myhero/data:latest'}\n";

#[test]
fn kustomize_renders_an_overlay() {
    in_child_with_peers("kustomize_child", "kustomize");
}

#[test]
#[ignore = "run by kustomize_renders_an_overlay with the peers on PATH"]
fn kustomize_child() {
    if std::env::var_os("FERRY_RENDER_CHILD").is_none() {
        return;
    }
    let f = files(&[
        ("deploy/base/deployment.yaml", BASE_DEPLOY),
        (
            "deploy/base/kustomization.yaml",
            "resources: [deployment.yaml]\n",
        ),
        (
            "deploy/overlays/dev/kustomization.yaml",
            "resources: [../../base]\nnamePrefix: dev-\nimages:\n- {name: myhero/data, newTag: v2}\npatches:\n- target: {kind: Deployment, name: web}\n  patch: |\n    - {op: replace, path: /spec/replicas, value: 3}\n",
        ),
    ]);
    let objs = render(&f, "deploy/overlays/dev", &ctx(&[], &[])).unwrap();
    assert_eq!(objs.len(), 1, "{objs:#?}");
    let d = find(&objs, "Deployment", "dev-web");
    assert_eq!(d.namespace.as_deref(), Some("dev"));
    assert_eq!(d.value["spec"]["replicas"], 3);
    assert_eq!(
        d.value["spec"]["template"]["spec"]["containers"][0]["image"],
        "myhero/data:v2"
    );
    assert!(d.source.contains("(kustomize)"), "{}", d.source);
}

#[test]
fn helm_renders_a_chart_with_values_files() {
    in_child_with_peers("helm_child", "helm");
}

#[test]
#[ignore = "run by helm_renders_a_chart_with_values_files with the peers on PATH"]
fn helm_child() {
    if std::env::var_os("FERRY_RENDER_CHILD").is_none() {
        return;
    }
    let f = files(&[
        (
            "chart/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        ),
        ("chart/values.yaml", "replicas: 2\ntag: latest\n"),
        ("chart/values-dev.yaml", "replicas: 4\n"),
        (
            "chart/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-api\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - name: api\n        image: myhero/app:{{ .Values.tag }}\n",
        ),
        (
            "chart/templates/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-api\n  namespace: {{ .Release.Namespace }}\nspec:\n  selector: {app: api}\n  ports: [{port: 80}]\n",
        ),
        (
            // A `helm test` hook, as `helm create` writes one: not part of
            // the release.
            "chart/templates/tests/test-connection.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations: {helm.sh/hook: test}\nspec:\n  restartPolicy: Never\n  containers: [{name: wget, image: busybox, command: [wget, 'web-api:80']}]\n",
        ),
    ]);
    let values = vec!["values-dev.yaml".to_string()];
    let images = vec![ImageOverride {
        name: "myhero/app".into(),
        new_name: None,
        new_tag: Some("v7".into()),
    }];
    let objs = render(&f, "chart", &ctx(&values, &images)).unwrap();
    assert_eq!(objs.len(), 2, "the test hook is left out: {objs:#?}");
    let d = find(&objs, "Deployment", "web-api");
    assert_eq!(d.value["spec"]["replicas"], 4, "values-dev.yaml wins");
    assert_eq!(d.namespace.as_deref(), Some("dev"));
    assert_eq!(
        d.value["spec"]["template"]["spec"]["containers"][0]["image"], "myhero/app:v7",
        "the native image override applies after helm"
    );
    let s = find(&objs, "Service", "web-api");
    assert_eq!(s.value["metadata"]["namespace"], "dev");
    assert!(d.source.contains("(helm)"), "{}", d.source);
}
