//! Shared set-up for the runtime's integration tests: a runtime on a temp
//! dir with busybox test images whose httpd serves a version string.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_runtime::images::{ImageConfig, busybox_image};
use ferry_runtime::kinds::Kind;
use ferry_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

/// A started runtime and its directory.
pub struct Env {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

/// Starts a runtime with images `web:v1`, `web:v2` and `tools:1` built from busybox.
pub async fn env() -> Env {
    let dir = tempfile::Builder::new().prefix("ferry-rt-").tempdir().unwrap();
    let mut cfg = RuntimeConfig::new(dir.path().join("runtime"));
    cfg.backoff_base = Duration::from_millis(500);
    cfg.backoff_max = Duration::from_secs(4);
    let images = cfg.data_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    for v in ["v1", "v2"] {
        let files = BTreeMap::from([("www/index.html".to_string(), format!("{v}\n")), ("www/healthz".to_string(), "ok\n".to_string())]);
        let config = ImageConfig { cmd: vec!["httpd".into(), "-f".into(), "-p".into(), "8080".into(), "-h".into(), "/www".into()], ..Default::default() };
        busybox_image(&images, &format!("web:{v}"), &files, &config).unwrap();
    }
    busybox_image(&images, "tools:1", &BTreeMap::new(), &ImageConfig { cmd: vec!["sleep".into(), "3600".into()], ..Default::default() }).unwrap();
    let rt = Runtime::start(cfg).await.unwrap();
    Env { rt, dir }
}

/// Prints pods' statuses and events (for failing tests).
pub fn dump(rt: &Runtime) {
    for p in rt.list(Kind::Pod, None) {
        eprintln!("pod {} status {}", p["metadata"]["name"], p["status"]);
    }
    for e in rt.events(None, None) {
        eprintln!("event {} {} {} {}", e.object, e.type_, e.reason, e.message);
    }
}

/// Applies one YAML text.
pub fn apply(rt: &Runtime, text: &str) -> Vec<ferry_runtime::Outcome> {
    rt.apply(&[("test.yaml".to_string(), text.to_string())]).unwrap()
}

/// Polls (async) until `f` returns Some.
pub async fn wait<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pods in `default` whose labels contain `app=<app>`, not being deleted.
pub fn pods(rt: &Runtime, app: &str) -> Vec<Value> {
    rt.list(Kind::Pod, Some("default"))
        .into_iter()
        .filter(|p| p.pointer("/metadata/labels/app").and_then(Value::as_str) == Some(app))
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .collect()
}

/// True when the pod's Ready condition is True.
pub fn ready(p: &Value) -> bool {
    p.pointer("/status/conditions/0/status").and_then(Value::as_str) == Some("True")
}

/// A Deployment of `replicas` web pods at `version`, with a readiness probe.
pub fn web(name: &str, replicas: u32, version: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 2\n      containers:\n      - name: web\n        image: web:{version}\n        ports: [{{containerPort: 8080, name: http}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: http}}]\n"
    )
}

/// A tools pod (busybox, sleeping) to run clients from.
pub const TOOLS: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: tools, labels: {app: tools}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: tools, image: 'tools:1'}]\n";

/// GETs `http://host:port/` with busybox nc in the tools pod (busybox-static's
/// wget crashes); the body on a 200 answer.
pub async fn fetch(rt: &Runtime, host: &str, port: u16) -> Option<String> {
    let script = format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 2 {host} {port}");
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), script];
    let out = rt.exec("default", "tools", None, &cmd).await.ok()?;
    if std::env::var("FERRY_TEST_DEBUG").is_ok() { eprintln!("fetch {host}: {out:?}"); }
    let (head, body) = out.stdout.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}
