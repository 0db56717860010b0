//! The pages that follow the region's other sources live, end to end in
//! headless Debian chromium over the DevTools protocol: region `uk` runs
//! here (`start_region`), region `us` is another process's — a small HTTP
//! server on loopback answering the probe's `GET /api/v1` — and `uk`
//! replicates to a registry that is not there. Each page is opened, a
//! marker set on `window`, the change made, and the page polled (with a
//! deadline) until it shows the change while the marker is still there
//! (no reload):
//!
//! - the overview: an image pushed to `uk` shows as a pending copy in the
//!   registry section; `us`'s listener closed shows as `unreachable since`
//!   (at the next probe, every 15 s) without moving anything on the page
//!   (Chromium's Layout Instability API);
//! - the pods list: an applied pod's row appears, and goes when deleted;
//! - the serverless page: an applied Knative Service and its Revision;
//! - the registry: a repository pushed shows in the open repositories
//!   list, a tag pushed in the open repository's page.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_core::topology::Topology;
use ferry_test_support::cdp::Browser;
use serde_json::json;

/// A stand-in for region `us`'s API: answers every request with its
/// version and closes the connection; [`FakeRegion::stop`] closes the
/// listener, so the next probe is refused.
struct FakeRegion {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRegion {
    fn start() -> FakeRegion {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let body = r#"{"ferryVersion":"9.9.9"}"#;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeRegion {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for FakeRegion {
    fn drop(&mut self) {
        self.stop();
    }
}

fn topology(us: std::net::SocketAddr) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: us}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n  endpoints: {{api: 'http://{us}', tokenFile: us.token}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: uk-to-mirror}}\nspec: {{source: {{region: uk}}, target: {{url: 'http://127.0.0.1:9'}}}}\n"
    );
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// Pushes `repo:tag` (a config and no layer) over the registry's HTTP API.
fn push(registry: &str, repo: &str, tag: &str) {
    use ferry_registry::digest::{Algorithm, Digest};
    let c = reqwest::blocking::Client::new();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let d = Digest::of(Algorithm::Sha256, &config);
    let r = c
        .post(format!("{registry}/v2/{repo}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text());
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let loc = if loc.starts_with('/') {
        format!("{registry}{loc}")
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .put(format!("{loc}{sep}digest={d}"))
        .body(config.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d.to_string(), "size": config.len()},
        "layers": []});
    let r = c
        .put(format!("{registry}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text());
}

/// Applies `text` through the region's API.
fn apply(url: &str, admin: &str, file: &str, text: &str) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/apply"))
        .bearer_auth(admin)
        .json(&json!({"sources": [{"file": file, "text": text}]}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
}

/// Sets the marker a reload would lose.
fn mark(b: &mut Browser) {
    b.eval("window.marker = 'same page'; true");
}

fn still_marked(b: &mut Browser, page: &str) {
    assert_eq!(
        b.eval("window.marker ?? 'reloaded'"),
        "same page",
        "the {page} reloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_regions_replication_pods_and_serverless_live() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("us.token"), "ferry_probe_token\n").unwrap();
    let mut us = FakeRegion::start();
    let running = ferry_server::start_region(
        ferry_server::ServerConfig {
            topology: topology(us.addr),
            data_root: dir.path().join("data"),
            config_dir: dir.path().to_path_buf(),
            known_tokens: BTreeMap::new(),
            auth_enabled: false,
            kube_targets: None,
        },
        "uk",
    )
    .await
    .unwrap();
    let url = running.api("uk").unwrap().url.clone();
    let registry = format!("http://{}", running.region("uk").unwrap().registry);
    let admin = running.new_admin_tokens()["uk"].clone();
    let work = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(&work, 1280, 900);
        log_in(&mut b, &url, &admin);
        overview(&mut b, &registry, &mut us);
        pods(&mut b, &url, &admin);
        serverless(&mut b, &url, &admin);
        registry_pages(&mut b, &url, &registry);
    })
    .await
    .unwrap();
    running.shutdown().await;
}

fn log_in(b: &mut Browser, url: &str, admin: &str) {
    b.navigate(&format!("{url}/ui"));
    b.wait_for("the login page", "document.activeElement.id", |v| {
        v == "token"
    });
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(admin)
    ));
    b.wait_for(
        "the overview",
        "document.readyState === 'complete' && location.pathname",
        |v| v == "/ui",
    );
}

fn overview(b: &mut Browser, registry: &str, us: &mut FakeRegion) {
    let regions = "document.getElementById('regions')?.innerText ?? ''";
    b.wait_for("us up at its version", regions, |v| {
        let t = v.as_str().unwrap_or("");
        t.lines()
            .any(|l| l.starts_with("us") && l.contains("9.9.9"))
    });
    let pending =
        "[...document.querySelectorAll('#registry tbody tr')].map(r => r.innerText).join('\\n')";
    let before = b.eval(pending);
    assert!(
        before.as_str().unwrap().contains("uk-to-mirror"),
        "{before}"
    );
    mark(b);
    let t0 = std::time::Instant::now();
    push(registry, "team/web", "v1");
    b.wait_for("the copy pending, live", pending, |v| {
        let t = v.as_str().unwrap_or("");
        t.lines()
            .any(|l| l.starts_with("uk-to-mirror") && l.split('\t').nth(2) == Some("1"))
    });
    eprintln!(
        "overview: the pending copy shown {:?} after the push",
        t0.elapsed()
    );
    still_marked(b, "overview");
    // The failing copy's error arrives on its own (and may wrap, moving the
    // map below): wait for it, so only the probe's change is measured.
    b.wait_for("the copy's error", pending, |v| {
        let t = v.as_str().unwrap_or("");
        t.lines().any(|l| {
            l.starts_with("uk-to-mirror")
                && l.split('\t').nth(6).is_some_and(|e| !e.trim().is_empty())
        })
    });

    b.eval(
        "window.shift = 0; window.moved = []; new PerformanceObserver(l => l.getEntries().forEach(e => { window.shift += e.value; e.sources.forEach(s => window.moved.push(s.node?.id || s.node?.className || s.node?.nodeName)); })).observe({type: 'layout-shift'}); true",
    );
    let t0 = std::time::Instant::now();
    us.stop();
    // The probe runs every 15 s; the page shows its finding within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let t = b.eval(regions);
        if t.as_str().unwrap_or("").contains("unreachable since") {
            eprintln!(
                "overview: us unreachable {:?} after its listener closed",
                t0.elapsed()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "us not unreachable on the open page within 40 s: {t}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    still_marked(b, "overview");
    let moved = b.eval("window.moved.join(', ')");
    assert_eq!(
        b.eval("window.shift"),
        0,
        "the update moved the page: {moved}"
    );
}

fn pods(b: &mut Browser, url: &str, admin: &str) {
    let url_pods = format!("{url}/ui/pods");
    b.navigate(&url_pods);
    let rows = "document.getElementById('pods')?.innerText ?? 'no #pods'";
    let first = b.wait_for("the pods list", rows, |v| v != "no #pods");
    assert!(!first.as_str().unwrap().contains("live-pod"), "{first}");
    mark(b);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: live-pod, namespace: default}\nspec:\n  containers:\n  - {name: app, image: 'nowhere.invalid/none:1'}\n";
    let t0 = std::time::Instant::now();
    apply(url, admin, "pod.yaml", pod);
    b.wait_for("the new pod's row", rows, |v| {
        v.as_str().unwrap_or("").contains("live-pod")
    });
    eprintln!("pods: the new row shown {:?} after the apply", t0.elapsed());
    still_marked(b, "pods list");
    let resp = reqwest::blocking::Client::new()
        .delete(format!("{url}/api/v1/objects/pods/default/live-pod"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    b.wait_for("the deleted pod's row gone", rows, |v| {
        !v.as_str().unwrap_or("live-pod").contains("live-pod")
    });
    still_marked(b, "pods list");
}

fn serverless(b: &mut Browser, url: &str, admin: &str) {
    b.navigate(&format!("{url}/ui/serverless"));
    let services = "document.getElementById('ksvcs')?.innerText ?? 'no #ksvcs'";
    b.wait_for("the serverless page", services, |v| v != "no #ksvcs");
    mark(b);
    let ksvc = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello, namespace: default}\nspec:\n  template:\n    spec:\n      containers:\n      - {image: 'nowhere.invalid/none:1'}\n";
    let t0 = std::time::Instant::now();
    apply(url, admin, "ksvc.yaml", ksvc);
    b.wait_for("the Service and its Revision", services, |v| {
        let t = v.as_str().unwrap_or("");
        t.contains("hello") && t.contains("hello-00001")
    });
    eprintln!(
        "serverless: the Revision shown {:?} after the apply",
        t0.elapsed()
    );
    still_marked(b, "serverless page");
}

fn registry_pages(b: &mut Browser, url: &str, registry: &str) {
    b.navigate(&format!("{url}/ui/registry"));
    let repos = "document.getElementById('repos')?.innerText ?? 'no #repos'";
    b.wait_for("the repositories", repos, |v| {
        v.as_str().unwrap_or("").contains("team/web")
    });
    mark(b);
    let t0 = std::time::Instant::now();
    push(registry, "team/api", "v1");
    b.wait_for("the pushed repository", repos, |v| {
        v.as_str().unwrap_or("").contains("team/api")
    });
    eprintln!(
        "registry: the new repository shown {:?} after the push",
        t0.elapsed()
    );
    still_marked(b, "registry page");
    b.navigate(&format!("{url}/ui/registry/repo?name=team%2Fweb"));
    let tags = "[...document.querySelectorAll('#tags tbody th')].map(t => t.textContent).join(',')";
    b.wait_for("team/web's tag", tags, |v| v == "v1");
    mark(b);
    let t0 = std::time::Instant::now();
    push(registry, "team/web", "v2");
    b.wait_for("the pushed tag", tags, |v| {
        v.as_str().unwrap_or("").split(',').any(|t| t == "v2")
    });
    eprintln!(
        "registry: the new tag shown {:?} after the push",
        t0.elapsed()
    );
    still_marked(b, "repository page");
}
