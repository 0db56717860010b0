//! Canary rollouts end to end on the embedded target: a region started
//! in-process, an Application synced from a real git repository into real
//! pods (busybox httpd, a CGI answering the version), the region's gateway
//! taking a steady client load over 127.0.0.1 while a new commit runs as a
//! canary. A good version goes through every step in order and becomes
//! stable; a bad one (20 % of its answers 500) is rolled back by the
//! analysis with fewer than 1 % of client requests failed; a canary whose
//! pods crash is ended by the progress deadline. Needs root (runc).

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

const HOST: &str = "web.canary.test";

/// The admin token of the region under test: one region at a time, the
/// tests hold [`SERIAL`] (they also share two cores with their pods).
static TOKEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn token() -> String {
    TOKEN.lock().unwrap().clone()
}

/// The CGI every version answers `/cgi-bin/v` with: its version, or for
/// `bad` a 500 one time in five (a random byte mod 5).
fn cgi(version: &str) -> String {
    let ok = format!(
        "printf 'Content-Type: text/plain\\r\\nContent-Length: {}\\r\\n\\r\\n{version}\\n'\n",
        version.len() + 1
    );
    if version != "bad" {
        return format!("#!/bin/sh\n{ok}");
    }
    format!(
        "#!/bin/sh\nn=$(head -c1 /dev/urandom | od -An -tu1)\nif [ $((n % 5)) -eq 0 ]; then\n  printf 'HTTP/1.1 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\nContent-Length: 4\\r\\n\\r\\nbad\\n'\n  exit 0\nfi\n{ok}"
    )
}

fn build_images(data: &Path) {
    let store = ferry_image::Store::open(data.join("uk/runtime/images/store")).unwrap();
    for v in ["v1", "v2", "bad"] {
        let mut l = Layer::new();
        l.insert(
            "/www/cgi-bin/v",
            Entry::Data {
                data: cgi(v).into_bytes(),
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
fn manifests(image: &str, command: Option<&str>) -> String {
    let command = command.map_or(String::new(), |c| format!("        command: {c}\n"));
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: {image}\n        imagePullPolicy: Never\n{command}        ports: [{{containerPort: 8080}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web}}\nspec:\n  rules:\n  - host: {HOST}\n    http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}\n"
    )
}

struct Region {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    running: Option<Running>,
    api: String,
    gateway: SocketAddr,
}

impl Drop for Region {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let rt = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| rt.block_on(r.shutdown()));
        }
    }
}

async fn region(strategy: &str) -> Region {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/web.yaml", &manifests("web:v1", None))], "v1");
    let data = dir.path().join("data");
    build_images(&data);
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec:\n  region: uk\n  strategy:\n    canary:\n{strategy}---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        repo.display()
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
    let r = Region {
        _dir: dir,
        repo,
        running: Some(running),
        api,
        gateway,
    };
    let gw = r.gateway;
    wait("v1 served", 120, move || {
        (get(gw) == Some((200, "v1".into()))).then_some(())
    })
    .await;
    r
}

/// One GET of `/cgi-bin/v` through the gateway: (status, body).
fn get(gateway: SocketAddr) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&gateway, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET /cgi-bin/v HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split("\r\n\r\n").nth(1)?.trim().to_string();
    Some((status, body))
}

async fn wait<T: Send + 'static>(
    what: &'static str,
    secs: u64,
    f: impl FnMut() -> Option<T> + Send + 'static,
) -> T {
    tokio::task::spawn_blocking(move || poll(what, Duration::from_secs(secs), f))
        .await
        .unwrap()
}

/// A steady client load (about `rps` requests a second) until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    canary: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(gateway: SocketAddr, rps: u32, canary_body: &'static str) -> Load {
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
    fn stop(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (n(&self.sent), n(&self.failed), n(&self.canary))
    }
}

/// GET on the API from a blocking context (a plain HTTP/1.1 exchange).
fn api_get(api: &str, path: &str) -> Value {
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

async fn api_post(api: &str, path: &str, body: Value) -> u16 {
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
fn rollout(api: &str) -> Value {
    api_get(api, "/apps/web/rollout?environment=dev")["items"][0].clone()
}

/// Commits `image` (and a command) and asks for a sync.
async fn deploy(r: &Region, image: &str, command: Option<&str>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_version_goes_through_every_step_in_order_and_becomes_stable() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setWeight: 20\n      - pause: {duration: 2s}\n      - analysis: {count: 2}\n      - setWeight: 50\n      - pause: {}\n      analysis: {interval: 1s, minRequests: 3, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    let load = Load::start(r.gateway, 60, "v2");
    deploy(&r, "web:v2", None).await;
    // Every step, in order, as the API reports it (polled every 50 ms).
    let api = r.api.clone();
    let seen = wait("the canary paused at its last step", 90, {
        let mut seen: Vec<(u64, u64)> = Vec::new();
        move || {
            let ro = rollout(&api);
            let (step, weight) = (ro["step"].as_u64()?, ro["weight"].as_u64()?);
            if seen.last() != Some(&(step, weight)) {
                seen.push((step, weight));
            }
            std::thread::sleep(Duration::from_millis(50));
            (ro["phase"] == "Paused").then(|| seen.clone())
        }
    })
    .await;
    let steps: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    for (step, weight) in [(1, 20), (2, 20), (3, 20), (4, 50)] {
        assert!(
            seen.contains(&(step, weight)),
            "step {step} at {weight} %: {seen:?}"
        );
    }
    let ro = rollout(&r.api);
    assert!(
        ro["analysis"]["measurements"].as_u64().unwrap() >= 2,
        "{ro}"
    );
    assert_eq!(ro["analysis"]["failures"], 0, "{ro}");
    assert_eq!(
        api_post(
            &r.api,
            "/apps/web/rollout/promote",
            json!({"environment": "dev"})
        )
        .await,
        202
    );
    let api = r.api.clone();
    wait("promoted", 90, move || {
        (rollout(&api)["phase"] == "Completed").then_some(())
    })
    .await;
    let (sent, failed, v2) = load.stop();
    println!("good canary: {sent} requests, {failed} failed, {v2} answered by v2");
    assert_eq!(failed, 0);
    let gw = r.gateway;
    for _ in 0..20 {
        assert_eq!(get(gw), Some((200, "v2".into())), "the stable is v2 now");
    }
    let api = r.api.clone();
    let env = wait("Healthy on v2", 30, move || {
        let env = api_get(&api, "/apps/web")["environments"][0].clone();
        (env["health"] == "Healthy" && env["sync"] == "Synced").then_some(env)
    })
    .await;
    assert_eq!(env["images"], json!(["web:v2"]), "{env}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_answering_500_is_rolled_back_by_the_analysis() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setWeight: 5\n      - pause: {duration: 60s}\n      - setWeight: 50\n      - pause: {}\n      analysis: {interval: 2s, minRequests: 5, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    let load = Load::start(r.gateway, 100, "bad");
    let t = Instant::now();
    deploy(&r, "web:bad", None).await;
    let api = r.api.clone();
    let exposed = wait("canary traffic", 60, move || {
        (rollout(&api)["weight"] == 5).then(Instant::now)
    })
    .await;
    let api = r.api.clone();
    let ro = wait("rolled back", 60, move || {
        std::thread::sleep(Duration::from_millis(20));
        let ro = rollout(&api);
        (ro["phase"] == "Aborted").then_some(ro)
    })
    .await;
    let detection = exposed.elapsed();
    // Load goes on after the rollback: only stable answers now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (sent, failed, bad) = load.stop();
    let measurements = ro["analysis"]["measurements"].as_u64().unwrap();
    println!(
        "bad canary: {sent} requests over {:.1} s, {failed} failed ({:.2} %), {bad} answered by the canary; detected {:.1} s after the weight moved, at measurement {measurements} (interval 2 s)",
        t.elapsed().as_secs_f64(),
        failed as f64 * 100.0 / sent as f64,
        detection.as_secs_f64()
    );
    let message = ro["message"].as_str().unwrap();
    assert!(message.contains("success rate"), "{message}");
    assert!(measurements <= 3, "detected within a few intervals: {ro}");
    assert!(
        (failed as f64) < sent as f64 * 0.01,
        "{failed} of {sent} failed"
    );
    assert_eq!(ro["weight"], 0);
    let gw = r.gateway;
    for _ in 0..20 {
        assert_eq!(
            get(gw),
            Some((200, "v1".into())),
            "all traffic back on stable"
        );
    }
    let api = r.api.clone();
    let env = wait("Degraded", 30, move || {
        let env = api_get(&api, "/apps/web")["environments"][0].clone();
        (env["health"] == "Degraded").then_some(env)
    })
    .await;
    assert!(
        env["error"].as_str().unwrap().contains("success rate"),
        "{env}"
    );
    let metrics = reqwest::get(format!("{}/metrics", r.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_delivery_rollout_analysis_success_rate{"),
        "metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_whose_pods_crash_is_ended_by_the_progress_deadline() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setWeight: 50\n      - pause: {}\n      progressDeadlineSeconds: 8\n").await;
    let load = Load::start(r.gateway, 20, "never");
    let t = Instant::now();
    deploy(&r, "web:v1", Some("['sh', '-c', 'exit 1']")).await;
    let api = r.api.clone();
    let ro = wait("aborted by the deadline", 60, move || {
        let ro = rollout(&api);
        (ro["phase"] == "Aborted").then_some(ro)
    })
    .await;
    println!(
        "crashing canary aborted after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let message = ro["message"].as_str().unwrap();
    assert!(
        message.starts_with("progress deadline: step 1 did not finish within 8 s"),
        "{message}"
    );
    let (sent, failed, _) = load.stop();
    assert_eq!(failed, 0, "of {sent}: the weight never moved");
    assert_eq!(get(r.gateway), Some((200, "v1".into())));
    let api = r.api.clone();
    wait("Degraded", 30, move || {
        (api_get(&api, "/apps/web")["environments"][0]["health"] == "Degraded").then_some(())
    })
    .await;
}
