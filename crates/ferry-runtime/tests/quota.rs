//! ResourceQuota and LimitRange with real pods (runc, root), after the
//! Kubernetes documentation's tasks: a pod within the memory/CPU quota
//! runs and the second, beyond it, is refused with the API server's text
//! (nothing of that apply stored); a Deployment of 3 under `pods: 2` gets
//! two pods and reports FailedCreate, a Job under `pods: 1` runs its pods
//! one at a time (a finished pod frees the quota); LimitRange defaults reach the stored
//! pod and its cgroups; min/max violations are refused.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: NAME}\n";

const QUOTA: &str = r#"
apiVersion: v1
kind: ResourceQuota
metadata: {name: mem-cpu-demo, namespace: quota-mem-cpu-example}
spec:
  hard:
    requests.cpu: "1"
    requests.memory: 1Gi
    limits.cpu: "2"
    limits.memory: 2Gi
"#;

fn quota_pod(name: &str, limits: (&str, &str), requests: (&str, &str)) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: quota-mem-cpu-example}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: tools:1\n    resources:\n      limits: {{memory: {}, cpu: {}}}\n      requests: {{memory: {}, cpu: {}}}\n",
        limits.0, limits.1, requests.0, requests.1
    )
}

fn running(p: &Value) -> bool {
    p.pointer("/status/containerStatuses/0/state/running")
        .is_some()
}

fn apply_err(env: &Env, text: &str) -> String {
    env.rt
        .apply(&[("test.yaml".to_string(), text.to_string())])
        .unwrap_err()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_pod_beyond_the_quota_is_refused_and_nothing_of_its_apply_stored() {
    let env = env().await;
    let ns = NS.replace("NAME", "quota-mem-cpu-example");
    apply(&env.rt, &format!("{ns}---{QUOTA}"));
    let first = quota_pod("quota-mem-cpu-demo", ("800Mi", "800m"), ("600Mi", "400m"));
    apply(&env.rt, &first);
    wait("the first pod runs", Duration::from_secs(60), || {
        let p = env
            .rt
            .get(Kind::Pod, "quota-mem-cpu-example", "quota-mem-cpu-demo")
            .ok()?;
        running(&p).then_some(())
    })
    .await;
    let second = quota_pod("quota-mem-cpu-demo-2", ("1Gi", "800m"), ("700Mi", "400m"));
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: quota-mem-cpu-example}\ndata: {a: b}\n";
    let err = apply_err(&env, &format!("{cm}---\n{second}"));
    assert_eq!(
        err,
        "test.yaml: document 1 (Pod/quota-mem-cpu-demo-2): pods \"quota-mem-cpu-demo-2\" is forbidden: exceeded quota: mem-cpu-demo, requested: requests.memory=700Mi, used: requests.memory=600Mi, limited: requests.memory=1Gi"
    );
    assert!(
        env.rt
            .get(Kind::ConfigMap, "quota-mem-cpu-example", "extra")
            .is_err()
    );
    assert!(
        env.rt
            .get(Kind::Pod, "quota-mem-cpu-example", "quota-mem-cpu-demo-2")
            .is_err()
    );
    // The controller keeps the quota's status.
    let used = wait("quota status", Duration::from_secs(10), || {
        let q = env
            .rt
            .get(Kind::ResourceQuota, "quota-mem-cpu-example", "mem-cpu-demo")
            .ok()?;
        q.pointer("/status/used").cloned()
    })
    .await;
    assert_eq!(
        used,
        serde_json::json!({"limits.cpu": "800m", "limits.memory": "800Mi", "requests.cpu": "400m", "requests.memory": "600Mi"})
    );
    // A pod stating no memory request is refused for what the quota tracks.
    let bare = "apiVersion: v1\nkind: Pod\nmetadata: {name: bare, namespace: quota-mem-cpu-example}\nspec:\n  containers: [{name: main, image: tools:1, resources: {limits: {cpu: 100m}}}]\n";
    assert_eq!(
        apply_err(&env, bare),
        "test.yaml: document 0 (Pod/bare): pods \"bare\" is forbidden: failed quota: mem-cpu-demo: must specify limits.memory for: main; requests.memory for: main"
    );
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_beyond_the_pod_quota_gets_the_pods_that_fit() {
    let env = env().await;
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: pod-demo}\nspec:\n  hard: {pods: \"2\"}\n";
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pod-quota-demo}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: pqd}}\n  template:\n    metadata: {labels: {app: pqd}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: main, image: tools:1}]\n";
    apply(&env.rt, &format!("{quota}---\n{deploy}"));
    let cond = wait(
        "the Deployment reports ReplicaFailure",
        Duration::from_secs(30),
        || {
            let d = env
                .rt
                .get(Kind::Deployment, "default", "pod-quota-demo")
                .ok()?;
            let conds = d.pointer("/status/conditions")?.as_array()?.clone();
            conds.into_iter().find(|c| c["type"] == "ReplicaFailure")
        },
    )
    .await;
    assert_eq!(cond["reason"], "FailedCreate");
    let message = cond["message"].as_str().unwrap();
    assert!(message.starts_with("pods \"pod-quota-demo-"), "{message}");
    assert!(
        message.ends_with("\" is forbidden: exceeded quota: pod-demo, requested: pods=1, used: pods=2, limited: pods=2"),
        "{message}"
    );
    assert_eq!(pods(&env.rt, "pqd").len(), 2);
    let rs = env.rt.list(Kind::ReplicaSet, Some("default")).remove(0);
    assert_eq!(
        rs.pointer("/status/conditions/0/reason")
            .and_then(Value::as_str),
        Some("FailedCreate")
    );
    let events = env.rt.events(Some("default"), None);
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.reason == "FailedCreate")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one event while the refusal stays the same: {failed:?}"
    );
    assert!(
        failed[0]
            .message
            .starts_with("Error creating: pods \"pod-quota-demo-")
    );
    // Both pods run; the third never appears.
    wait("two pods run", Duration::from_secs(60), || {
        (pods(&env.rt, "pqd").iter().filter(|p| running(p)).count() == 2).then_some(())
    })
    .await;
    assert_eq!(pods(&env.rt, "pqd").len(), 2);
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_range_defaults_reach_the_pod_and_its_cgroups() {
    let env = env().await;
    let lr = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: mem-limit-range}\nspec:\n  limits:\n  - type: Container\n    default: {memory: 64Mi, cpu: 500m}\n    defaultRequest: {memory: 32Mi, cpu: 100m}\n";
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: default-mem-demo}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{name: default-mem-demo-ctr, image: tools:1}]\n";
    apply(&env.rt, &format!("{lr}---\n{pod}"));
    let p = wait("the pod runs", Duration::from_secs(60), || {
        let p = env.rt.get(Kind::Pod, "default", "default-mem-demo").ok()?;
        running(&p).then_some(p)
    })
    .await;
    assert_eq!(
        p.pointer("/spec/containers/0/resources").unwrap(),
        &serde_json::json!({"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "32Mi"}})
    );
    assert_eq!(
        p.pointer("/metadata/annotations/kubernetes.io~1limit-ranger")
            .and_then(Value::as_str),
        Some(
            "LimitRanger plugin set: cpu, memory request for container default-mem-demo-ctr; cpu, memory limit for container default-mem-demo-ctr"
        )
    );
    let uid = p.pointer("/metadata/uid").and_then(Value::as_str).unwrap();
    let ctr = "default-mem-demo-ctr";
    let read = |v1: String, v2: String| {
        std::fs::read_to_string(v1)
            .or_else(|_| std::fs::read_to_string(v2))
            .expect("the container's cgroup")
    };
    let memory = read(
        format!("/sys/fs/cgroup/memory/ferry/{uid}/{ctr}/memory.limit_in_bytes"),
        format!("/sys/fs/cgroup/ferry/{uid}/{ctr}/memory.max"),
    );
    assert_eq!(memory.trim(), "67108864");
    let cpu = read(
        format!("/sys/fs/cgroup/cpu/ferry/{uid}/{ctr}/cpu.cfs_quota_us"),
        format!("/sys/fs/cgroup/ferry/{uid}/{ctr}/cpu.max"),
    );
    assert!(
        cpu.trim() == "50000" || cpu.trim() == "50000 100000",
        "{cpu}"
    );
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_and_max_violations_are_refused_for_pods_and_templates() {
    let env = env().await;
    let lr = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: cpu-min-max-demo-lr}\nspec:\n  limits:\n  - type: Container\n    max: {cpu: 800m}\n    min: {cpu: 200m}\n";
    apply(&env.rt, lr);
    let pod = |name: &str, limit: &str, request: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: main\n    image: tools:1\n    resources: {{limits: {{cpu: \"{limit}\"}}, requests: {{cpu: {request}}}}}\n"
        )
    };
    assert_eq!(
        apply_err(&env, &pod("constraints-cpu-demo-2", "1.5", "500m")),
        "test.yaml: document 0 (Pod/constraints-cpu-demo-2): pods \"constraints-cpu-demo-2\" is forbidden: maximum cpu usage per Container is 800m, but limit is 1500m"
    );
    assert_eq!(
        apply_err(&env, &pod("constraints-cpu-demo-3", "800m", "100m")),
        "test.yaml: document 0 (Pod/constraints-cpu-demo-3): pods \"constraints-cpu-demo-3\" is forbidden: minimum cpu usage per Container is 200m, but request is 100m"
    );
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: big}\nspec:\n  selector: {matchLabels: {app: big}}\n  template:\n    metadata: {labels: {app: big}}\n    spec:\n      containers: [{name: main, image: tools:1, resources: {limits: {cpu: \"2\"}}}]\n";
    assert_eq!(
        apply_err(&env, deploy),
        "test.yaml: document 0 (Deployment/big): field `spec.template.spec`: pods created from this template would be forbidden: maximum cpu usage per Container is 800m, but limit is 2"
    );
    assert!(env.rt.list(Kind::Pod, None).is_empty());
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_beyond_the_pod_quota_runs_the_pods_that_fit() {
    let env = env().await;
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: one-pod}\nspec:\n  hard: {pods: \"1\"}\n";
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: wide}\nspec:\n  completions: 2\n  parallelism: 2\n  template:\n    spec:\n      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n      containers: [{name: main, image: tools:1, command: [sh, -c, 'sleep 1']}]\n";
    apply(&env.rt, &format!("{quota}---\n{job}"));
    let failed = wait("a FailedCreate event", Duration::from_secs(30), || {
        let events = env.rt.events(Some("default"), None);
        events.into_iter().find(|e| e.reason == "FailedCreate")
    })
    .await;
    assert_eq!(failed.object, "Job/wide");
    assert!(
        failed.message.ends_with(
            "is forbidden: exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1"
        ),
        "{}",
        failed.message
    );
    // The finished pod frees the quota: both completions happen, one at a time.
    wait("the Job completes", Duration::from_secs(60), || {
        let j = env.rt.get(Kind::Job, "default", "wide").ok()?;
        (j.pointer("/status/succeeded").and_then(Value::as_i64) == Some(2)).then_some(())
    })
    .await;
    env.rt.shutdown().await;
}
