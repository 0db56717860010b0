//! Container lifecycle: a failing liveness probe restarts the container
//! (with its previous log kept), a crashing container backs off in
//! CrashLoopBackOff, init containers run to completion first, a readiness
//! probe failing before the server is up is retried sooner than its period.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

fn status(env: &Env, pod: &str) -> Value {
    env.rt
        .get(Kind::Pod, "default", pod)
        .map(|p| p["status"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probe_restarts_and_crash_backs_off() {
    let env = env().await;
    apply(
        &env.rt,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sick, labels: {app: sick}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: prepare
    image: tools:1
    command: [sh, -c, "echo prepared > /work/ready"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: tools:1
    command: [sh, -c, "echo started; cat /work/ready; touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /work}]
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 1}
  volumes: [{name: work, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: crash, labels: {app: crash}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    command: [sh, -c, "echo boom; exit 3"]
"#,
    );
    // Liveness: restarted at least once, for the probe's reason.
    wait(
        "sick restarted by liveness",
        Duration::from_secs(60),
        || {
            let st = status(&env, "sick");
            if std::env::var("FERRY_TEST_DEBUG").is_ok() {
                dump(&env.rt);
            }
            (st.pointer("/containerStatuses/0/restartCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                >= 1)
                .then_some(())
        },
    )
    .await;
    let events = env.rt.events(Some("default"), Some("Pod/sick"));
    assert!(
        events
            .iter()
            .any(|e| e.reason == "Killing" && e.message.contains("liveness")),
        "{events:?}"
    );
    let prev = std::fs::read_to_string(
        env.rt
            .log_path("default", "sick", Some("app"), true)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        prev, "started\nprepared\n",
        "previous log holds the first run's output"
    );
    let init = status(&env, "sick");
    assert_eq!(
        init.pointer("/initContainerStatuses/0/state/terminated/exitCode")
            .and_then(Value::as_i64),
        Some(0),
        "{init}"
    );

    // Crash: exit code recorded, CrashLoopBackOff seen, restarts spaced out.
    let st = wait("crash in CrashLoopBackOff", Duration::from_secs(60), || {
        let st = status(&env, "crash");
        let reason = st
            .pointer("/containerStatuses/0/state/waiting/reason")
            .and_then(Value::as_str);
        (reason == Some("CrashLoopBackOff")).then_some(st)
    })
    .await;
    assert_eq!(
        st.pointer("/containerStatuses/0/lastState/terminated/exitCode")
            .and_then(Value::as_i64),
        Some(3),
        "{st}"
    );
    let restarts = st
        .pointer("/containerStatuses/0/restartCount")
        .and_then(Value::as_i64)
        .unwrap();
    assert!(restarts >= 1, "{st}");
    let backoffs: Vec<_> = env
        .rt
        .events(Some("default"), Some("Pod/crash"))
        .into_iter()
        .filter(|e| e.reason == "BackOff")
        .map(|e| e.message)
        .collect();
    assert!(!backoffs.is_empty());
    // Exponential: a later back-off is longer than the first.
    wait("a longer back-off", Duration::from_secs(30), || {
        let b: Vec<_> = env
            .rt
            .events(Some("default"), Some("Pod/crash"))
            .into_iter()
            .filter(|e| e.reason == "BackOff")
            .map(|e| e.message)
            .collect();
        (b.len() >= 2 && b.last() != b.first()).then_some(())
    })
    .await;
    env.rt.shutdown().await;
}

/// Regression: ferry probes as soon as runc has started the container, so a
/// server still starting lost the first readiness probe and then waited a
/// whole period (10 s by default) to become Ready. Until its first success
/// the probe is now retried from 100 ms, doubling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_ready_after_its_first_probe_is_not_held_for_a_period() {
    let env = env().await;
    apply(
        &env.rt,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: slow, labels: {app: slow}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: tools:1
    command: [sh, -c, "sleep 1; touch /tmp/ready; sleep 3600"]
    readinessProbe: {exec: {command: [cat, /tmp/ready]}}
"#,
    );
    let running = |st: &Value| st.pointer("/containerStatuses/0/state/running").is_some();
    wait("slow running", Duration::from_secs(60), || {
        running(&status(&env, "slow")).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let ready = |st: &Value| st.pointer("/containerStatuses/0/ready") == Some(&Value::Bool(true));
    wait("slow ready", Duration::from_secs(30), || {
        ready(&status(&env, "slow")).then_some(())
    })
    .await;
    let took = started.elapsed();
    // The probe period is 10 s; the file appears after 1 s.
    assert!(took < Duration::from_secs(7), "ready after {took:?}");
}
