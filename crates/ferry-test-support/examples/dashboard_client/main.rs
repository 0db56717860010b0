//! The dashboard's figures of issue #23, measured from outside a running
//! `ferry up` (bench/dashboard.sh starts it with N applications and runs
//! this once they are all synced):
//!
//! - the applications list's first page, rendered by the server (HTTP
//!   request to last byte, median of 21) and its size, and the largest
//!   HTML of the other pages;
//! - first contentful paint in headless Chromium (DevTools), from
//!   navigation start, median of 7 loads;
//! - what one open tab (its page and live stream) adds to the serving
//!   process's RSS (`/proc/PID/status`), beside how much the RSS moves
//!   over the same wait with the tab closed;
//! - an SSE update's delay: a commit to the probe application's own
//!   repository and the API's sync, until the page's patch showing the new
//!   revision is applied; split at the moment the engine finished the
//!   sync (the history's `startedMs + durationMs`).
//!
//! Usage: dashboard_client --url URL --pid PID --apps N --probe-app NAME
//! --probe-file PATH (the token: `$FERRY_TOKEN`, an admin token).

mod browser;

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use serde_json::Value;

/// What the script hands over.
#[derive(Debug)]
pub struct Args {
    pub url: String,
    pub token: String,
    pub pid: u32,
    pub apps: usize,
    pub probe_app: String,
    /// A manifest of the probe application, in a git work tree.
    pub probe_file: std::path::PathBuf,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let flags: HashMap<&str, &str> = raw
        .chunks(2)
        .filter_map(|c| Some((c[0].strip_prefix("--")?, c.get(1)?.as_str())))
        .collect();
    let get = |k: &str| -> String {
        flags
            .get(k)
            .unwrap_or_else(|| panic!("--{k} is required (see the file's header)"))
            .to_string()
    };
    Args {
        url: get("url"),
        token: std::env::var("FERRY_TOKEN").expect("FERRY_TOKEN: an admin token"),
        pid: get("pid").parse().expect("--pid"),
        apps: get("apps").parse().expect("--apps"),
        probe_app: get("probe-app"),
        probe_file: get("probe-file").into(),
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Unix milliseconds, as the page's `Date.now()` and the engine's history.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("the server's VmRSS (is --pid the ferry process?)")
}

/// The API, with the admin token.
#[derive(Debug)]
pub struct Api {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Api {
    pub fn new(a: &Args) -> Api {
        Api {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            url: a.url.clone(),
            token: a.token.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    pub fn post(&self, path: &str) {
        let r = self
            .http
            .post(format!("{}/api/v1/{path}", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap();
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
    }
}

/// Logs in as the UI does (token form → session cookie).
fn login(api: &Api) -> String {
    let login = api
        .http
        .post(format!("{}/ui/login", api.url))
        .header("origin", &api.url)
        .form(&[("token", api.token.as_str()), ("next", "/ui/apps")])
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// Server render time of the list's first page and the pages' sizes.
fn server_side(api: &Api, a: &Args) {
    let cookie = login(api);
    let get = |path: &str| {
        let t = Instant::now();
        let r = api
            .http
            .get(format!("{}{path}", api.url))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        let status = r.status();
        let body = r.text().unwrap();
        assert!(status == 200 || path != "/ui/apps", "{path}: {status}");
        if status != 200 {
            println!("  (GET {path}: {status}, left out of the sizes)");
        }
        (
            t.elapsed().as_secs_f64() * 1e3,
            body.len() * usize::from(status == 200),
        )
    };
    let (n, mut times, mut list_bytes) = (a.apps, vec![], 0);
    for _ in 0..21 {
        let (ms, bytes) = get("/ui/apps");
        times.push(ms);
        list_bytes = bytes;
    }
    println!(
        "{n} apps, /ui/apps first page by the server: {:.2} ms median of 21 (HTTP to last byte; min {:.2}, max {:.2}), {list_bytes} bytes   target < 50 ms",
        median(times.clone()),
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(0.0, f64::max),
    );
    let app = format!("/ui/apps/{}", a.probe_app);
    let pages = [
        "/ui".to_string(),
        format!("/ui/apps?page={}", (n / 50).max(1)),
        app.clone(),
        format!("{app}/diff"),
        "/ui/pipelines".into(),
        "/ui/registry".into(),
        "/ui/serverless".into(),
        "/ui/traffic".into(),
        "/ui/pods".into(),
    ];
    let mut largest = ("/ui/apps".to_string(), list_bytes);
    for p in pages {
        let (_, bytes) = get(&p);
        if bytes > largest.1 {
            largest = (p, bytes);
        }
    }
    println!(
        "{n} apps, largest page's HTML: {} {} bytes   target < 200 KB",
        largest.0, largest.1
    );
}

fn main() {
    let a = args();
    let api = Api::new(&a);
    let listed = api.get("apps")["items"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, a.apps, "the API lists {listed} applications");
    let dir = tempfile::tempdir().unwrap();
    server_side(&api, &a);
    browser::measure(dir.path(), &api, &a);
}
