//! A HorizontalPodAutoscaler on CPU with real pods (runc, root): a busybox
//! loop burning CPU under a 200m limit against a 100m request is read from
//! its cgroup as about 200 % utilization, and the HPA (synced every second
//! here) scales its Deployment to maxReplicas, saying so in its status;
//! a memory metric beside it reads the pods' working set.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

const BURN: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: tools:1
        command: [sh, -c, "while :; do :; done"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
          limits: {cpu: 200m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 1Gi}}
"#;

fn replicas(env: &Env) -> i64 {
    env.rt
        .get(Kind::Deployment, "default", "burn")
        .ok()
        .and_then(|d| d.pointer("/spec/replicas").and_then(Value::as_i64))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_burning_pods_scale_their_deployment_to_max_replicas() {
    let env = env_with(|c| c.hpa_sync_period = Duration::from_secs(1)).await;
    apply(&env.rt, BURN);
    wait("burn scaled to 2", Duration::from_secs(60), || {
        (replicas(&env) == 2).then_some(())
    })
    .await;
    let hpa = env
        .rt
        .get(Kind::HorizontalPodAutoscaler, "default", "burn")
        .unwrap();
    let st = &hpa["status"];
    eprintln!("hpa status: {st}");
    let util = st
        .pointer("/currentMetrics/0/resource/current/averageUtilization")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    // 200m of 100m, give or take scheduling.
    assert!((120..=260).contains(&util), "{st}");
    let memory = st
        .pointer("/currentMetrics/1/resource/current/averageValue")
        .and_then(Value::as_str)
        .unwrap_or("0");
    assert_ne!(memory, "0", "{st}");
    let limited = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ScalingLimited")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (limited["status"].as_str(), limited["reason"].as_str()),
        (Some("True"), Some("TooManyReplicas")),
        "{st}"
    );
    assert!(st["lastScaleTime"].is_string(), "{st}");
    let rescaled = env.rt.events(Some("default"), None).into_iter().any(|e| {
        e.reason == "SuccessfulRescale"
            && e.message
                .starts_with("New size: 2; reason: cpu resource utilization")
    });
    assert!(rescaled);
    env.rt.shutdown().await;
}
