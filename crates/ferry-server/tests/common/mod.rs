//! The canary tests' shared setup: a region started in-process with an
//! Environment's canary strategy, an Application synced from a real git
//! repository into real pods (busybox httpd; a CGI `/cgi-bin/v` answering
//! the version and counting its calls, `/cgi-bin/n` answering the count),
//! the region's gateway on 127.0.0.1, a steady client load, and the API.
//! Needs root (runc).

#![allow(dead_code)] // each test file uses a part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_core::topology::Topology;
use ferry_image::build::{Entry, Layer};
use ferry_server::{Running, ServerConfig, start};
use ferry_test_support::{git, git_commit, poll};
use serde_json::{Value, json};

pub const HOST: &str = "web.canary.test";

/// The admin token of the region under test: one region at a time, the
/// tests hold [`SERIAL`] (they also share two cores with their pods).
pub static TOKEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn token() -> String {
    TOKEN.lock().unwrap().clone()
}

/// The CGI every version answers `/cgi-bin/v` with: its version, or for
/// `bad` a 500 one time in five (a random byte mod 5); each call appends a
/// byte to `/www/hits`. `calls` first calls the Service `dep` (HTTP/1.0
/// GET of `/healthz` with busybox nc, through the mesh).
pub fn cgi(version: &str) -> String {
    let dep =
        "printf 'GET /healthz HTTP/1.0\\r\\nHost: dep\\r\\n\\r\\n' | nc -w 3 dep 80 > /dev/null\n";
    let count = format!(
        "printf x >> /www/hits\n{}",
        if version == "calls" { dep } else { "" }
    );
    let ok = format!(
        "printf 'Content-Type: text/plain\\r\\nContent-Length: {}\\r\\n\\r\\n{version}\\n'\n",
        version.len() + 1
    );
    if version != "bad" {
        return format!("#!/bin/sh\n{count}{ok}");
    }
    format!(
        "#!/bin/sh\n{count}n=$(head -c1 /dev/urandom | od -An -tu1)\nif [ $((n % 5)) -eq 0 ]; then\n  printf 'HTTP/1.1 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\nContent-Length: 4\\r\\n\\r\\nbad\\n'\n  exit 0\nfi\n{ok}"
    )
}

/// `/cgi-bin/n`: how many times this pod answered `/cgi-bin/v`.
const HITS_CGI: &str = "#!/bin/sh\nn=$(cat /www/hits 2>/dev/null | wc -c)\nn=$((n + 0))\nprintf 'Content-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n%s\\n' $((${#n} + 1)) $n\n";

pub fn build_images(data: &Path) {
    let store = ferry_image::Store::open(data.join("uk/runtime/images/store")).unwrap();
    for v in ["v1", "v2", "bad", "calls"] {
        let mut l = Layer::new();
        l.insert(
            "/www/cgi-bin/v",
            Entry::Data {
                data: cgi(v).into_bytes(),
                mode: 0o755,
            },
        )
        .unwrap();
        l.insert(
            "/www/cgi-bin/n",
            Entry::Data {
                data: HITS_CGI.as_bytes().to_vec(),
                mode: 0o755,
            },
        )
        .unwrap();
        ferry_image::build::busybox::httpd_image(v, 8080)
            .unwrap()
            .layer(l)
            .build(&store, Some(&format!("web:{v}")))
            .unwrap();
    }
}

/// The app's manifests with `image` and, when given, a container command.
pub fn manifests(image: &str, command: Option<&str>) -> String {
    let command = command.map_or(String::new(), |c| format!("        command: {c}\n"));
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: {image}\n        imagePullPolicy: Never\n{command}        ports: [{{containerPort: 8080}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web}}\nspec:\n  rules:\n  - host: {HOST}\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}\n"
    )
}

pub struct Region {
    _dir: tempfile::TempDir,
    pub repo: std::path::PathBuf,
    pub running: Option<Running>,
    pub api: String,
    pub gateway: SocketAddr,
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let rt = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| rt.block_on(r.shutdown()));
        }
    }
}

/// A region whose Environment has the canary `strategy` (the lines under
/// `strategy.canary:`), the app at v1.
pub async fn region(strategy: &str) -> Region {
    let env = format!("  strategy:\n    canary:\n{strategy}");
    region_with(&env, &manifests("web:v1", None)).await
}

/// The region `uk` of the topology documents `rest` (Environments,
/// Applications, Pipelines; the app's repository path replacing `{repo}`),
/// the app's `k8s/web.yaml` first committed as `web`.
pub async fn boot(rest: &str, web: &str) -> Region {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/web.yaml", web)], "v1");
    let data = dir.path().join("data");
    build_images(&data);
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\n{}",
        rest.replace("{repo}", &repo.display().to_string())
    );
    let topology = Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap();
    let running = start(ServerConfig {
        topology,
        data_root: data.clone(),
        config_dir: dir.path().join("conf"),
        auth_enabled: false,
        known_tokens: BTreeMap::new(),
        kube_targets: None,
    })
    .await
    .unwrap();
    let api = running.api("uk").unwrap().url.clone();
    let token = running
        .new_admin_tokens()
        .get("uk")
        .cloned()
        .unwrap_or_default();
    *TOKEN.lock().unwrap() = token;
    let gateway = running.region("uk").unwrap().gateway;
    Region {
        _dir: dir,
        repo,
        running: Some(running),
        api,
        gateway,
    }
}

/// A region whose Environment's spec ends with `env` (YAML lines), the
/// app's `k8s/web.yaml` first committed as `web`, once it serves v1.
pub async fn region_with(env: &str, web: &str) -> Region {
    let rest = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec:\n  region: uk\n{env}---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{{repo}}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n"
    );
    let r = boot(&rest, web).await;
    let gw = r.gateway;
    wait("v1 served", 120, move || {
        (get(gw) == Some((200, "v1".into()))).then_some(())
    })
    .await;
    r
}

/// One GET of `/cgi-bin/v` through the gateway: (status, body).
pub fn get(gateway: SocketAddr) -> Option<(u16, String)> {
    get_with(gateway, "/cgi-bin/v", "")
}

/// One GET of `path` through the gateway with extra `headers` (each line
/// ending in CRLF): (status, body).
pub fn get_with(gateway: SocketAddr, path: &str, headers: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&gateway, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1)?.trim().to_string();
    Some((status, body))
}

pub async fn wait<T: Send + 'static>(
    what: &'static str,
    secs: u64,
    f: impl FnMut() -> Option<T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || poll(what, Duration::from_secs(secs), f))
        .await
        .unwrap()
}

/// A steady client load (about `rps` requests a second) until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    canary: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(gateway: SocketAddr, rps: u32, canary_body: &'static str) -> Load {
        let (stop, sent, failed, canary) = Default::default();
        let mut l = Load {
            stop,
            sent,
            failed,
            canary,
            threads: Vec::new(),
        };
        for _ in 0..4 {
            let (stop, sent, failed, canary) = (
                l.stop.clone(),
                l.sent.clone(),
                l.failed.clone(),
                l.canary.clone(),
            );
            let every = Duration::from_secs(4) / rps;
            l.threads.push(std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let answer = get(gateway);
                    sent.fetch_add(1, Ordering::Relaxed);
                    match answer {
                        Some((200, body)) => {
                            if body == canary_body {
                                canary.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    next += every;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }));
        }
        l
    }

    /// Stops; (sent, failed, answered by the canary's version).
    pub fn stop(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (n(&self.sent), n(&self.failed), n(&self.canary))
    }
}

/// GET on the API from a blocking context (a plain HTTP/1.1 exchange).
pub fn api_get(api: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let host = api.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return Value::Null;
    };
    let req = format!(
        "GET /api/v1{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token()
    );
    let mut out = Vec::new();
    if s.write_all(req.as_bytes()).is_err() || s.read_to_end(&mut out).is_err() {
        return Value::Null;
    }
    let text = String::from_utf8_lossy(&out);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

pub async fn api_post(api: &str, path: &str, body: Value) -> u16 {
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{api}/api/v1{path}"))
        .bearer_auth(token())
        .json(&body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// The web Deployment's rollout in dev, as the API shows it.
pub fn rollout(api: &str) -> Value {
    api_get(api, "/apps/web/rollout?environment=dev")["items"][0].clone()
}

/// Commits `image` (and a command) and asks for a sync.
pub async fn deploy(r: &Region, image: &str, command: Option<&str>) {
    git_commit(
        &r.repo,
        &[("k8s/web.yaml", &manifests(image, command))],
        image,
    );
    assert_eq!(
        api_post(&r.api, "/apps/web/sync", json!({"environment": "dev"})).await,
        202
    );
}
