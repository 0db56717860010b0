//! Helpers shared by the tests that drive a real `ferry up`: start it and
//! wait for the region's readiness, and run CLI verbs against its API.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

use ferry_test_support::{Proc, http_ok, poll};
use serde_json::Value;

/// The `ferry` binary under test.
pub fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// Starts `ferry up -f topo` (logs under `dir`) and waits for the first
/// region's `/readyz`; returns the process and that region's API URL.
pub fn up(topo: &std::path::Path, dir: &std::path::Path) -> (Proc, String) {
    let mut cmd = ferry();
    cmd.args(["up", "-f"]).arg(topo).args(["-o", "json"]);
    let up = Proc::spawn("ferry-up", cmd, dir).with_grace(Duration::from_secs(45));
    let endpoints: Value = poll("endpoint table", Duration::from_secs(20), || {
        serde_json::from_str(&up.stdout()).ok()
    });
    let api = endpoints
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["listener"] == "api")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    poll("region ready", Duration::from_secs(20), || {
        http_ok(&format!("{api}/readyz")).then_some(())
    });
    (up, api)
}

/// Runs `ferry ARGS` against the region at `api`.
pub fn cli(api: &str, args: &[&str]) -> std::process::Output {
    ferry()
        .args(args)
        .env("FERRY_SERVER", api)
        .output()
        .unwrap()
}

/// `curl -X METHOD http://GATEWAY/PATH` with `Host: HOST` (and a myhero
/// `key` header when given): the body of a 2xx answer, else `None`.
pub fn via_gateway(
    gateway: &str,
    host: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> Option<String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-f", "-m", "5", "-X", method])
        .args(["-H", &format!("Host: {host}")]);
    if let Some(k) = key {
        cmd.args(["-H", &format!("key: {k}")]);
    }
    let out = cmd.arg(format!("http://{gateway}{path}")).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}
