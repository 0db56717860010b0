//! Shared set-up for the runtime's integration tests: a runtime on a temp
//! dir with busybox test images whose httpd serves a version string.
#![allow(dead_code)]

pub mod serving;

use std::time::Duration;

use ferry_image::build::busybox;
use ferry_runtime::kinds::Kind;
use ferry_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

/// A started runtime and its directory.
#[derive(Debug)]
pub struct Env {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

impl Drop for Env {
    /// Stops the runtime first (its controller would otherwise keep
    /// writing into the directory after it is removed, leaving
    /// `/tmp/ferry-rt-*` behind), then removes what a failed test left:
    /// containers and mounts, so nothing outlives the test. The directory
    /// itself goes after this, with the `dir` field.
    fn drop(&mut self) {
        stop_runtime(&self.rt);
        delete_containers(&self.dir.path().join("runtime/runc"));
        unmount_under(self.dir.path());
    }
}

/// Shuts `rt` down (at most 30 s) from a synchronous `drop` on a
/// multi-threaded tokio runtime; a no-op when it already was shut down.
fn stop_runtime(rt: &Runtime) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return;
    }
    tokio::task::block_in_place(|| {
        handle.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(30), rt.shutdown()).await;
        })
    });
}

/// `runc delete -f` of every container under the runc root `root`.
fn delete_containers(root: &std::path::Path) {
    let list = std::process::Command::new("runc")
        .arg("--root")
        .arg(root)
        .args(["list", "-q"])
        .output();
    for id in list
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
    {
        let _ = std::process::Command::new("runc")
            .arg("--root")
            .arg(root)
            .args(["delete", "-f", id])
            .status();
    }
}

/// Lazily unmounts every mount under `dir`, deepest first.
fn unmount_under(dir: &std::path::Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let base = dir.to_string_lossy().into_owned();
    let mut ours: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&base))
        .collect();
    ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in ours {
        let _ = std::process::Command::new("umount")
            .args(["-l", m])
            .status();
    }
}

/// Starts a runtime whose image store holds `web:v1` and `web:v2` (busybox
/// httpd on 8080 answering the version) and `tools:1` (busybox, sleeping),
/// built with the image toolkit.
pub async fn env() -> Env {
    env_with(|_| {}).await
}

/// [`env`] with the configuration changed by `f` first (e.g. a clock).
pub async fn env_with(f: impl FnOnce(&mut RuntimeConfig)) -> Env {
    let dir = tempfile::Builder::new()
        .prefix("ferry-rt-")
        .tempdir()
        .unwrap();
    let mut cfg = RuntimeConfig::new(dir.path().join("runtime"));
    cfg.backoff_base = Duration::from_millis(500);
    cfg.backoff_max = Duration::from_secs(4);
    build_images(&cfg.data_dir.join("images"));
    f(&mut cfg);
    let rt = Runtime::start(cfg).await.unwrap();
    Env { rt, dir }
}

/// Builds the test images into the store under `images`.
pub fn build_images(images: &std::path::Path) {
    let oci = ferry_runtime::OciImages::open(images.to_path_buf()).unwrap();
    for v in ["v1", "v2"] {
        busybox::httpd_image(v, 8080)
            .unwrap()
            .build(&oci.store, Some(&format!("web:{v}")))
            .unwrap();
    }
    busybox::busybox_image()
        .unwrap()
        .cmd(["sleep", "3600"])
        .build(&oci.store, Some("tools:1"))
        .unwrap();
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
    rt.apply(&[("test.yaml".to_string(), text.to_string())])
        .unwrap()
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
    p.pointer("/status/conditions/0/status")
        .and_then(Value::as_str)
        == Some("True")
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
    let script =
        format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 2 {host} {port}");
    let cmd: Vec<String> = vec!["sh".into(), "-c".into(), script];
    let out = rt.exec("default", "tools", None, &cmd).await.ok()?;
    if std::env::var("FERRY_TEST_DEBUG").is_ok() {
        eprintln!("fetch {host}: {out:?}");
    }
    let (head, body) = out.stdout.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}
