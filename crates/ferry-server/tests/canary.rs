//! Canary rollouts end to end on the embedded target (setup in
//! `common`): a good version goes through every step in order and becomes
//! stable; a bad one (20 % of its answers 500) is rolled back by the
//! analysis with fewer than 1 % of client requests failed; a canary whose
//! pods crash is ended by the progress deadline. Needs root (runc).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_good_version_goes_through_every_step_in_order_and_becomes_stable() {
    let _serial = SERIAL.lock().await;
    let r = region("      steps:\n      - setWeight: 20\n      - pause: {duration: 2s}\n      - analysis: {count: 2}\n      - setWeight: 50\n      - pause: {}\n      analysis: {interval: 1s, minRequests: 3, successRate: 0.95}\n      progressDeadlineSeconds: 60\n").await;
    let load = Load::start(r.gateway, 60, "v2");
    deploy(&r, "web:v2", None).await;
    // Every step, in order, as the rollout records them (a step may be
    // shorter than any poll: a scale the pods answer at once).
    let api = r.api.clone();
    let ro = wait("the canary paused at its last step", 90, move || {
        let ro = rollout(&api);
        std::thread::sleep(Duration::from_millis(50));
        (ro["phase"] == "Paused").then_some(ro)
    })
    .await;
    let seen: Vec<(u64, u64)> = ro["history"]
        .as_array()
        .expect("the rollout's step history")
        .iter()
        .map(|e| (e["step"].as_u64().unwrap(), e["weight"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen, [(1, 20), (2, 20), (3, 20), (4, 50)], "{ro}");
    let started: Vec<u64> = ro["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["startedMs"].as_u64().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] <= w[1]), "{ro}");
    // The timed pause (step 1 → 2) lasted its 2 s.
    assert!(started[1] - started[0] >= 2000, "{ro}");
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
