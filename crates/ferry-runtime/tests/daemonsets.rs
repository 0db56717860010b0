//! DaemonSets on real pods: exactly one pod on the node (the region),
//! labelled as Kubernetes labels it, replaced by a rolling update (the old
//! pod deleted before the new one is created); a nodeSelector the node's
//! labels do not match runs no pod.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

fn daemonset(name: &str, version: &str, node_selector: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      nodeSelector: {node_selector}\n      containers:\n      - name: web\n        image: web:{version}\n        ports: [{{containerPort: 8080, name: http}}]\n        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}\n"
    )
}

fn status(rt: &ferry_runtime::Runtime, name: &str, field: &str) -> i64 {
    rt.get(Kind::DaemonSet, "default", name)
        .ok()
        .and_then(|d| {
            d.pointer(&format!("/status/{field}"))
                .and_then(Value::as_i64)
        })
        .unwrap_or(-1)
}

fn image(p: &Value) -> &str {
    p.pointer("/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemonset_runs_one_pod_and_a_rolling_update_replaces_it() {
    let env = env().await;
    let rt = &env.rt;
    apply(rt, &daemonset("agent", "v1", "{kubernetes.io/os: linux}"));
    let first = wait("one ready agent pod", Duration::from_secs(60), || {
        let p = pods(rt, "agent");
        (p.len() == 1 && ready(&p[0]) && status(rt, "agent", "numberReady") == 1)
            .then(|| p[0].clone())
    })
    .await;
    let name = first["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("agent-") && name.len() == "agent-".len() + 5,
        "{name}"
    );
    assert_eq!(first["spec"]["nodeName"], "ferry");
    let labels = &first["metadata"]["labels"];
    assert!(labels["controller-revision-hash"].is_string(), "{labels}");
    assert_eq!(labels["pod-template-generation"], "1");
    assert_eq!(first["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
    for f in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberAvailable",
    ] {
        assert_eq!(status(rt, "agent", f), 1, "{f}");
    }
    assert_eq!(status(rt, "agent", "numberMisscheduled"), 0);
    // Still one pod a while later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pods(rt, "agent").len(), 1);

    apply(rt, &daemonset("agent", "v2", "{kubernetes.io/os: linux}"));
    let second = wait("the v2 pod ready", Duration::from_secs(60), || {
        let p = pods(rt, "agent");
        (p.len() == 1 && image(&p[0]) == "web:v2" && ready(&p[0])).then(|| p[0].clone())
    })
    .await;
    assert_ne!(second["metadata"]["name"].as_str(), Some(name.as_str()));
    assert_eq!(second["metadata"]["labels"]["pod-template-generation"], "2");
    wait("status updated", Duration::from_secs(10), || {
        (status(rt, "agent", "updatedNumberScheduled") == 1
            && status(rt, "agent", "observedGeneration") == 2)
            .then_some(())
    })
    .await;
    // maxUnavailable (the default): the old pod went before the new came.
    let events: Vec<String> = rt
        .events(Some("default"), Some("DaemonSet/agent"))
        .into_iter()
        .map(|e| format!("{} {}", e.reason, e.message))
        .collect();
    let deleted = events
        .iter()
        .position(|e| e == &format!("SuccessfulDelete Deleted pod: {name}"));
    let created = events
        .iter()
        .rposition(|e| e.starts_with("SuccessfulCreate"));
    assert!(deleted.is_some() && deleted < created, "{events:?}");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_selector_the_node_does_not_match_runs_no_pod() {
    let env = env().await;
    let rt = &env.rt;
    apply(rt, &daemonset("gpu", "v1", "{accelerator: nvidia}"));
    wait("the DaemonSet observed", Duration::from_secs(10), || {
        (status(rt, "gpu", "observedGeneration") == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pods(rt, "gpu").is_empty());
    assert_eq!(status(rt, "gpu", "desiredNumberScheduled"), 0);
    assert_eq!(status(rt, "gpu", "currentNumberScheduled"), 0);
    // The node's well-known labels select it.
    apply(
        rt,
        &daemonset("gpu", "v1", "{topology.kubernetes.io/region: ferry}"),
    );
    wait(
        "a pod once the selector matches",
        Duration::from_secs(60),
        || (pods(rt, "gpu").len() == 1).then_some(()),
    )
    .await;
    rt.shutdown().await;
}
