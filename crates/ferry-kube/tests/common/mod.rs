//! Shared by the real-cluster tests: a target on a test cluster, objects
//! labelled as the engine renders them, and async polling with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use ferry_core::objects::StoredObject;
use ferry_delivery::object::{LABEL_APP, LABEL_ENV, ObjKey, set_label};
use ferry_delivery::target::ApplyContext;
use ferry_kube::{ClusterSource, KubeTarget};
use ferry_test_support::kube::KubeCluster;
use serde_json::Value;

/// A cluster with the API server only (started off the async runtime: the
/// helper's readiness checks block).
pub async fn start_api() -> KubeCluster {
    tokio::task::spawn_blocking(KubeCluster::start_api)
        .await
        .expect("start the cluster")
}

/// A cluster with controllers, a scheduler and a kwok node.
pub async fn start_with_controllers() -> KubeCluster {
    tokio::task::spawn_blocking(KubeCluster::start_with_controllers)
        .await
        .expect("start the cluster")
}

/// The target for `cluster`, through its kubeconfig and named context.
pub async fn target(cluster: &KubeCluster) -> KubeTarget {
    let source = ClusterSource::kubeconfig(cluster.kubeconfig(), Some("ferry-test"));
    KubeTarget::connect(&source).await.expect("connect")
}

/// The apply context of app `app` in environment `dev`, namespace `ns`.
pub fn ctx(app: &str, ns: &str) -> ApplyContext {
    ApplyContext {
        app: app.into(),
        environment: "dev".into(),
        namespace: ns.into(),
        force: false,
    }
}

/// An object as render makes it for `ctx` (labels, namespace when given).
pub fn obj(ctx: &ApplyContext, mut value: Value) -> StoredObject {
    set_label(&mut value, LABEL_APP, &ctx.app);
    set_label(&mut value, LABEL_ENV, &ctx.environment);
    let key = ObjKey::of_value(&value).expect("apiVersion, kind and name");
    StoredObject {
        group_kind: key.group_kind,
        namespace: key.namespace,
        name: key.name,
        source: "test.yaml".into(),
        value,
    }
}

/// A ConfigMap `name` in `ns` with one data entry.
pub fn config_map(ctx: &ApplyContext, name: &str, value: &str) -> StoredObject {
    obj(
        ctx,
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ctx.namespace}, "data": {"key": value}}),
    )
}

/// kubectl, failing the test on a non-zero exit; returns stdout.
pub fn kubectl_ok(cluster: &KubeCluster, args: &[&str]) -> String {
    let out = cluster.kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` until it yields a value; panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
