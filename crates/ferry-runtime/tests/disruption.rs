//! PodDisruptionBudgets and cordons on real pods, the case operators meet
//! draining a node: a budget of minAvailable 2 over a 3-replica Deployment
//! lets one eviction through; the cordoned node keeps the replacement
//! Pending (Unschedulable), so the next eviction answers 429 with
//! Kubernetes' message, through the API route too, and never fewer than 2
//! pods are ready; DaemonSet pods still start on the cordoned node; after
//! uncordon the Deployment recovers and the budget allows an eviction again.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

const PDB: &str = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  minAvailable: 2\n  selector: {matchLabels: {app: web}}\n";

const AGENT: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template:\n    metadata: {labels: {app: agent}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{name: a, image: 'tools:1'}]\n";

fn allowed(rt: &ferry_runtime::Runtime) -> i64 {
    rt.get(Kind::PodDisruptionBudget, "default", "web")
        .ok()
        .and_then(|p| {
            p.pointer("/status/disruptionsAllowed")
                .and_then(Value::as_i64)
        })
        .unwrap_or(-1)
}

fn name(p: &Value) -> String {
    p["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Serves the runtime's API on a free port; its base URL.
async fn serve(rt: &ferry_runtime::Runtime) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().nest("/api/v1", ferry_runtime::api::router(rt.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_stops_evictions_from_a_cordoned_node_until_uncordon() {
    let env = env().await;
    let rt = &env.rt;
    apply(rt, &format!("{}---\n{PDB}", web("web", 3, "v1")));
    wait(
        "3 ready pods and one disruption allowed",
        Duration::from_secs(60),
        || {
            let p = pods(rt, "web");
            (p.len() == 3 && p.iter().all(ready) && allowed(rt) == 1).then_some(())
        },
    )
    .await;
    let status = rt.get(Kind::PodDisruptionBudget, "default", "web").unwrap()["status"].clone();
    assert_eq!(status["currentHealthy"], 3);
    assert_eq!(status["desiredHealthy"], 2);
    assert_eq!(status["expectedPods"], 3);
    assert_eq!(status["conditions"][0]["reason"], "SufficientPods");

    assert_eq!(rt.cordon("ferry", true).unwrap(), "node/ferry cordoned");
    let node = rt.get(Kind::Node, "", "ferry").unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);
    let before: Vec<String> = pods(rt, "web").iter().map(name).collect();
    rt.evict("default", &before[0]).unwrap();
    let pending = wait(
        "the replacement Pending as Unschedulable",
        Duration::from_secs(20),
        || {
            pods(rt, "web")
                .into_iter()
                .find(|p| !before.contains(&name(p)))
                .filter(|p| p["status"]["conditions"][0]["reason"] == "Unschedulable")
        },
    )
    .await;
    assert_eq!(pending["status"]["phase"], "Pending");
    assert!(pending["spec"]["nodeName"].is_null());
    let message = pending["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with("0/1 nodes are available: 1 node(s) were unschedulable."),
        "{message}"
    );
    wait("the budget spent", Duration::from_secs(20), || {
        (allowed(rt) == 0).then_some(())
    })
    .await;

    let err = rt.evict("default", &before[1]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let api = serve(rt).await;
    let resp = reqwest::Client::new()
        .post(format!("{api}/eviction/default/{}", before[2]))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        body["details"][0],
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    assert_eq!(pods(rt, "web").iter().filter(|p| ready(p)).count(), 2);

    // DaemonSet pods tolerate the cordon.
    apply(rt, AGENT);
    wait(
        "the agent running on the cordoned node",
        Duration::from_secs(60),
        || {
            pods(rt, "agent")
                .first()
                .filter(|p| p["status"]["phase"] == "Running")
                .map(|_| ())
        },
    )
    .await;

    assert_eq!(rt.cordon("ferry", false).unwrap(), "node/ferry uncordoned");
    wait(
        "3 ready pods after uncordon",
        Duration::from_secs(60),
        || {
            let p = pods(rt, "web");
            (p.len() == 3 && p.iter().all(ready) && allowed(rt) == 1).then_some(())
        },
    )
    .await;
    rt.evict("default", &before[1]).unwrap();
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cordon_survives_a_restart() {
    let env = env().await;
    env.rt.cordon("ferry", true).unwrap();
    assert_eq!(
        env.rt.cordon("ferry", true).unwrap(),
        "node/ferry already cordoned"
    );
    env.rt.shutdown().await;
    let mut cfg = ferry_runtime::RuntimeConfig::new(env.dir.path().join("runtime"));
    cfg.backoff_base = Duration::from_millis(500);
    let rt = ferry_runtime::Runtime::start(cfg).await.unwrap();
    apply(&rt, TOOLS);
    let p = wait("tools held Pending", Duration::from_secs(10), || {
        rt.get(Kind::Pod, "default", "tools")
            .ok()
            .filter(|p| p["status"]["conditions"][0]["reason"] == "Unschedulable")
    })
    .await;
    assert_eq!(p["status"]["phase"], "Pending");
    let events = rt.events(Some("default"), Some("Pod/tools"));
    assert!(
        events.iter().any(|e| e.reason == "FailedScheduling"),
        "{events:?}"
    );
    rt.cordon("ferry", false).unwrap();
    wait(
        "tools running after uncordon",
        Duration::from_secs(30),
        || {
            rt.get(Kind::Pod, "default", "tools")
                .ok()
                .filter(|p| p["status"]["phase"] == "Running")
                .map(|_| ())
        },
    )
    .await;
    rt.shutdown().await;
}
