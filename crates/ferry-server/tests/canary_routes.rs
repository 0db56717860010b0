//! The canary's routing steps end to end on the embedded target (setup in
//! `common`): a `setHeaderRoute` step sends only tagged clients to the
//! canary (and its abort takes the route away); a `setMirrorRoute` step
//! copies live requests to the canary — counted on the canary pod itself —
//! while clients only ever see stable's answers; a canary failing its
//! mirrored requests is rolled back before any weight moves; and a
//! `ferryFault` delay on the canary's calls to another Service shows in
//! its mirrored answers' latency, rolling it back at weight 0. Needs root.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use ferry_test_support::git_commit;
use serde_json::{Value, json};

const TAG: &str = "X-Tester: yes\r\n";

/// Tagged requests until stopped; counts (sent, answered by `v2`).
struct Tagged {
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 2]>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tagged {
    fn start(gateway: SocketAddr) -> Tagged {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<[AtomicU64; 2]> = Arc::default();
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let answer = get_with(gateway, "/cgi-bin/v", TAG);
                c[0].fetch_add(1, Ordering::Relaxed);
                if answer == Some((200, "v2".into())) {
                    c[1].fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Tagged {
            stop,
            counts,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let n = |i: usize| self.counts[i].load(Ordering::Relaxed);
        (n(0), n(1))
    }
}

/// Polls the rollout until `done`, recording every weight it showed.
async fn watch(api: &str, what: &'static str, done: fn(&Value) -> bool) -> (Value, Vec<u64>) {
    let api = api.to_string();
    wait(what, 90, {
        let mut weights = Vec::new();
        move || {
            let ro = rollout(&api);
            if let Some(w) = ro["weight"].as_u64()
                && weights.last() != Some(&w)
            {
                weights.push(w);
            }
            std::thread::sleep(Duration::from_millis(20));
            done(&ro).then(|| (ro, weights.clone()))
        }
    })
    .await
}

/// The hits the canary pod counted, asked through the header route.
fn canary_hits(gw: SocketAddr) -> Option<u64> {
    let (status, body) = get_with(gw, "/cgi-bin/n", TAG)?;
    (status == 200).then(|| body.parse().ok())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tagged_clients_reach_the_canary_and_the_others_stay_on_stable() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setHeaderRoute: {name: testers, match: [{headerName: X-Tester, headerValue: {exact: 'yes'}}]}\n      - analysis: {count: 2}\n      - pause: {}\n      analysis: {interval: 1s, minRequests: 5, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    let load = Load::start(r.gateway, 40, "v2");
    deploy(&r, "web:v2", None).await;
    let tagged = Tagged::start(r.gateway);
    // The analysis passes on the tagged requests alone: weight stays 0.
    let (ro, weights) = watch(&r.api, "paused after the analysis", |ro| {
        ro["phase"] == "Paused"
    })
    .await;
    assert_eq!(weights, [0], "{ro}");
    assert_eq!(ro["headerRoutes"][0]["name"], "testers", "{ro}");
    assert!(
        ro["analysis"]["measurements"].as_u64().unwrap() >= 2,
        "{ro}"
    );
    let gw = r.gateway;
    for _ in 0..10 {
        assert_eq!(get_with(gw, "/cgi-bin/v", TAG), Some((200, "v2".into())));
        assert_eq!(get(gw), Some((200, "v1".into())), "untagged: stable");
    }
    // Abort: the route goes with the weight, in the same swap.
    let body = json!({"environment": "dev"});
    assert_eq!(api_post(&r.api, "/apps/web/rollout/abort", body).await, 202);
    let (ro, _) = watch(&r.api, "aborted", |ro| ro["phase"] == "Aborted").await;
    assert_eq!(ro["headerRoutes"], json!([]), "{ro}");
    for _ in 0..10 {
        assert_eq!(get_with(gw, "/cgi-bin/v", TAG), Some((200, "v1".into())));
    }
    let (tag_sent, tag_v2) = tagged.stop();
    let (sent, failed, v2) = load.stop();
    println!(
        "header route: {tag_v2} of {tag_sent} tagged requests answered by v2; {v2} of {sent} untagged ({failed} failed)"
    );
    assert!(tag_v2 >= 10, "{tag_v2} of {tag_sent}");
    assert_eq!((failed, v2), (0, 0), "of {sent} untagged requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mirrored_requests_reach_the_canary_and_clients_see_only_stable() {
    let _serial = SERIAL.lock().await;
    // The header route only lets the test ask the canary pod its count.
    let r = region("      steps:\n      - setHeaderRoute: {name: probe, match: [{headerName: X-Tester, headerValue: {exact: 'yes'}}]}\n      - setMirrorRoute: {name: shadow, percentage: 100}\n      - analysis: {count: 2}\n      - pause: {}\n      analysis: {interval: 1s, minRequests: 5, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    deploy(&r, "web:v2", None).await;
    let (ro, _) = watch(&r.api, "mirroring", |ro| {
        ro["mirrorRoutes"][0]["name"] == "shadow"
    })
    .await;
    let gw = r.gateway;
    let before = wait("the canary's count", 30, move || canary_hits(gw)).await;
    let load = Load::start(r.gateway, 40, "v2");
    let (ro2, weights) = watch(&r.api, "paused after the mirror analysis", |ro| {
        ro["phase"] == "Paused"
    })
    .await;
    let (sent, failed, v2) = load.stop();
    let after = wait("the canary's count", 30, move || canary_hits(gw)).await;
    let mirrored = after - before;
    let m = &ro2["mirrorAnalysis"];
    println!(
        "mirror: {sent} client requests, {failed} failed, {v2} answered by v2; the canary pod counted {mirrored} mirrored; mirror analysis {m}"
    );
    assert_eq!(weights, [0], "{ro} {ro2}");
    assert_eq!((failed, v2), (0, 0), "clients see stable only, of {sent}");
    assert!(m["measurements"].as_u64().unwrap() >= 2, "{ro2}");
    assert_eq!(m["failures"], 0, "{ro2}");
    // Every client request is copied (100 %); a few may still be in flight.
    assert!(
        mirrored >= sent * 9 / 10 && mirrored <= sent,
        "{mirrored} mirrored of {sent}"
    );
    // Mirrored requests are not counted as live canary traffic (the only
    // live canary requests are the probe's, none during the windows).
    assert_eq!(ro2["analysis"]["last"]["requests"], 0, "{ro2}");
    assert!(m["last"]["requests"].as_u64().unwrap() >= 5, "{ro2}");
    let metrics = reqwest::get(format!("{}/metrics", r.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("ferry_delivery_rollout_mirror_analysis_success_rate{"));
    assert!(line.is_some_and(|l| l.ends_with(" 1.0")), "{line:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_failing_mirrored_requests_is_rolled_back_before_any_weight_moves() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setMirrorRoute: {name: shadow, percentage: 100}\n      - analysis: {count: 5}\n      - setWeight: 50\n      - pause: {}\n      analysis: {interval: 1s, minRequests: 10, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    let load = Load::start(r.gateway, 60, "bad");
    deploy(&r, "web:bad", None).await;
    let (ro, weights) = watch(&r.api, "rolled back", |ro| ro["phase"] == "Aborted").await;
    let (sent, failed, bad) = load.stop();
    let message = ro["message"].as_str().unwrap();
    println!(
        "failing mirror: {sent} client requests, {failed} failed, {bad} answered by the canary; {message}"
    );
    assert!(
        message.starts_with("analysis of the mirrored requests failed")
            && message.contains("success rate"),
        "{message}"
    );
    assert_eq!(weights, [0], "the weight never moved");
    assert_eq!(ro["step"], 1, "stopped in the analysis step: {ro}");
    assert_eq!(
        (failed, bad),
        (0, 0),
        "clients never saw the canary, of {sent}"
    );
    assert_eq!(ro["mirrorRoutes"], json!([]), "{ro}");
    let api = r.api.clone();
    let env = wait("Degraded", 30, move || {
        let env = api_get(&api, "/apps/web")["environments"][0].clone();
        (env["health"] == "Degraded").then_some(env)
    })
    .await;
    let error = env["error"].as_str().unwrap();
    assert!(error.contains("mirrored requests failed"), "{env}");
    assert!(error.contains("success rate"), "{env}");
}

/// The Service `dep` the `calls` version calls (busybox httpd, version v1).
const DEP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dep}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: dep}}\n  template:\n    metadata: {labels: {app: dep}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - {name: dep, image: 'web:v1', imagePullPolicy: Never, ports: [{containerPort: 8080}], readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: dep}\nspec:\n  selector: {app: dep}\n  ports: [{port: 80, targetPort: 8080}]\n";

/// A region whose canary calls `dep` (running before the canary starts),
/// mirrored and analysed with a p99 limit of 500 ms, after `fault` steps.
async fn calling_canary(fault: &str) -> (Region, Load, std::time::Instant) {
    let r = region(&format!("      steps:\n{fault}      - setMirrorRoute: {{name: shadow, percentage: 100}}\n      - analysis: {{count: 3}}\n      - pause: {{}}\n      analysis: {{interval: 1s, minRequests: 5, successRate: 0.95, latencyP99: 500ms}}\n      progressDeadlineSeconds: 60\n")).await;
    git_commit(&r.repo, &[("k8s/dep.yaml", DEP)], "dep");
    let body = json!({"environment": "dev"});
    assert_eq!(api_post(&r.api, "/apps/web/sync", body).await, 202);
    let api = r.api.clone();
    wait("dep running", 60, move || {
        let env = api_get(&api, "/apps/web")["environments"][0].clone();
        let healthy = env["health"] == "Healthy" && env["sync"] == "Synced";
        (healthy && env["images"].to_string().contains("web:v1")).then_some(())
    })
    .await;
    let load = Load::start(r.gateway, 40, "calls");
    let t = std::time::Instant::now();
    deploy(&r, "web:calls", None).await;
    (r, load, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fault_on_the_canarys_calls_is_analysed_before_any_weight_moves() {
    let _serial = SERIAL.lock().await;
    let fault = "      - ferryFault: {delay: 800ms, percentage: 100}\n";
    let (r, load, t) = calling_canary(fault).await;
    let (ro, weights) = watch(&r.api, "rolled back", |ro| ro["phase"] == "Aborted").await;
    let (sent, failed, calls) = load.stop();
    let message = ro["message"].as_str().unwrap();
    println!(
        "fault gate: {sent} client requests, {failed} failed, {calls} answered by the canary; aborted {:.1} s after the deploy: {message}",
        t.elapsed().as_secs_f64()
    );
    assert!(
        message.starts_with("analysis of the mirrored requests failed")
            && message.contains("latency p99"),
        "{message}"
    );
    assert_eq!(weights, [0], "the weight never moved");
    assert_eq!((failed, calls), (0, 0), "of {sent}");
    assert!(ro["fault"].is_null(), "removed with the abort: {ro}");
    let metrics = reqwest::get(format!("{}/metrics", r.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let delayed: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("fault=\"canary_delay\""))
        .collect();
    assert!(!delayed.is_empty(), "the canary's calls were delayed");
    println!("{delayed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_fault_the_same_calling_canary_passes() {
    let _serial = SERIAL.lock().await;
    let (r, load, _) = calling_canary("").await;
    let (ro, weights) = watch(&r.api, "paused", |ro| {
        ro["phase"] == "Paused" || ro["phase"] == "Aborted"
    })
    .await;
    let (sent, failed, calls) = load.stop();
    let m = &ro["mirrorAnalysis"];
    println!("no fault: {sent} client requests, {failed} failed, {calls} by the canary; {m}");
    assert_eq!(ro["phase"], "Paused", "{ro}");
    assert_eq!((weights.as_slice(), failed, calls), (&[0][..], 0, 0));
    assert!(m["last"]["latencyP99"].as_f64().unwrap() <= 0.5, "{m}");
}
