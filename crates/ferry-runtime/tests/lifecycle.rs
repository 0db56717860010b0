//! Container lifecycle: a failing liveness probe restarts the container
//! (with its previous log kept), a crashing container backs off in
//! CrashLoopBackOff, init containers run to completion first.

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
