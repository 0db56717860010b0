//! Helpers shared by the tests that drive a real `ferry up`: start it and
//! wait for the region's readiness, and run CLI verbs against its API.
#![allow(dead_code)]

pub mod myhero;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use ferry_test_support::{Proc, http_ok, poll};
use serde_json::Value;

/// The `ferry` binary under test.
pub fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// The first API URL of `ferry up -o json`'s endpoint table.
pub fn api_url(endpoints: &Value) -> String {
    let mut api = endpoints.as_array().unwrap().iter();
    let api = api.find(|e| e["listener"] == "api").unwrap();
    api["url"].as_str().unwrap().to_string()
}

/// Each region API's client config (the file `ferry up` or `ferry demo`
/// wrote its admin token to), so [`cli`] calls carry that region's token.
static CONFIGS: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// The client config of a test whose files live in `dir` (each test has its
/// own, so tests running side by side never share tokens or contexts).
pub fn client_config(dir: &Path) -> PathBuf {
    dir.join("ferry-client-config.yaml")
}

/// Makes [`cli`] calls to `api` use the client config `config`.
pub fn remember(api: &str, config: PathBuf) {
    CONFIGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(api.trim_end_matches('/').to_string(), config);
}

/// Starts `ferry up -f topo` (logs under `dir`) and waits for the first
/// region's `/readyz`; returns the process and that region's API URL.
pub fn up(topo: &Path, dir: &Path) -> (Proc, String) {
    up_with(topo, dir, ferry())
}

/// [`up`] with a command the caller prepared (an environment of its own,
/// e.g. the peers directory on `PATH` for Helm).
pub fn up_with(topo: &Path, dir: &Path, mut cmd: Command) -> (Proc, String) {
    cmd.args(["up", "-f"])
        .arg(topo)
        .args(["-o", "json"])
        .env("FERRY_CONFIG", client_config(dir));
    let up = Proc::spawn("ferry-up", cmd, dir).with_grace(Duration::from_secs(45));
    let endpoints: Value = poll("endpoint table", Duration::from_secs(20), || {
        serde_json::from_str(&up.stdout()).ok()
    });
    let api = api_url(&endpoints);
    let ready = |url: &str| match api.starts_with("https://") {
        true => https_ok(url, &client_config(dir)),
        false => http_ok(url),
    };
    poll("region ready", Duration::from_secs(20), || {
        ready(&format!("{api}/readyz")).then_some(())
    });
    remember(&api, client_config(dir));
    (up, api)
}

/// Whether `url` answers 2xx over HTTPS, trusting the CA the client config
/// names (the first context with one).
pub fn https_ok(url: &str, config: &Path) -> bool {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let Some(ca) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority:"))
        .map(|p| p.trim().trim_matches('"').to_string())
    else {
        return false;
    };
    let Ok(pem) = std::fs::read(ca) else {
        return false;
    };
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
        .get(url)
        .send()
        .is_ok_and(|r| r.status().is_success())
}

/// Runs `ferry ARGS` against the region at `api`, with the token its
/// `ferry up` wrote to the test's client config.
pub fn cli(api: &str, args: &[&str]) -> std::process::Output {
    let config = CONFIGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(api.trim_end_matches('/'))
        .cloned()
        .unwrap_or_else(|| {
            panic!("no client config known for {api}: start it with up() or remember()")
        });
    ferry()
        .args(args)
        .env("FERRY_SERVER", api)
        .env("FERRY_CONFIG", config)
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

/// A finished command's stdout and stderr together, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stdout of a command that must have succeeded.
pub fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}
