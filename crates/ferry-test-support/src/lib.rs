//! Helpers for ferry's integration tests: temporary data directories, free
//! loopback ports, polling with a deadline, and [`Proc`], a child process in
//! its own process group that is killed (group and all) on drop and whose
//! logs are printed when the test fails; [`kube::KubeCluster`], a real
//! Kubernetes API server (and controllers) per test; [`SmallFs`], a tmpfs
//! of a few MiB for tests of a full disk; [`cdp::Browser`], a headless
//! chromium driven over the DevTools protocol; [`wan::Wan`], regions in
//! network namespaces joined by toxiproxy links with WAN latency and
//! bandwidth.
#![forbid(unsafe_code)]

pub mod cdp;
pub mod kube;
mod kube_cmd;
pub mod kube_node;
mod kube_node_addons;
mod kube_node_cleanup;
mod kube_node_ingress;
mod kube_node_metrics;
pub mod netns;
mod proc;
mod smallfs;
pub mod wan;

pub use proc::Proc;
pub use smallfs::SmallFs;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// Where `scripts/setup.sh --test-peers` puts the Go-built test peers
/// (`$FERRY_PEERS_DIR`, default `~/.cache/ferry/peers`).
pub fn peers_dir() -> std::path::PathBuf {
    std::env::var_os("FERRY_PEERS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/ferry/peers")
        })
}

/// A fresh temporary directory, removed on drop.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("ferry-test-")
        .tempdir()
        .expect("create temp dir")
}

/// A loopback port that was free a moment ago. Prefer port 0 where the code
/// under test can report what it bound; use this when it cannot.
pub fn free_port() -> u16 {
    free_addr().port()
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

/// Calls `check` until it returns `Some`, or panics with `what` once
/// `timeout` has passed. Polls every 20 ms, backing off to 200 ms.
pub fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// True when `url` answers with a 2xx status.
pub fn http_ok(url: &str) -> bool {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    client
        .get(url)
        .send()
        .is_ok_and(|r| r.status().is_success())
}

/// A topology with `regions` regions named `names`, every listener on a
/// fresh loopback port, data under `dir`. Returns the YAML text.
pub fn topology_yaml(names: &[&str], dir: &std::path::Path) -> String {
    let mut out = String::new();
    for name in names {
        out.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: {name}}}\nspec:\n  dataDir: {}\n  listeners: {{api: {}, registry: {}, gateway: {}}}\n",
            dir.join(name).display(),
            free_addr(),
            free_addr(),
            free_addr(),
        ));
    }
    out
}

/// Runs `git ARGS` in `dir` with a fixed identity and `master` as the
/// default branch; panics with git's stderr on failure; returns trimmed
/// stdout.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@ferry.invalid"])
        .args(["-c", "init.defaultBranch=master"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs (apt-get install git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `files` in the work tree at `dir` (an empty text deletes the
/// file), commits everything with `msg` (an empty commit when nothing
/// changed) and returns the commit id.
pub fn git_commit(dir: &std::path::Path, files: &[(&str, &str)], msg: &str) -> String {
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().expect("file path has a parent"))
            .expect("create parent directories");
        if text.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::write(path, text).expect("write file");
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}
