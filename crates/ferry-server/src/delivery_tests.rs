//! Tests of the per-environment target seam: refused without a Kubernetes
//! connector, and with one, one connection per distinct cluster with the
//! kubeconfig resolved against the topology's directory; `/api/v1/clusters`
//! lists them with their facts, or why a cluster did not answer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferry_core::target_spec::{ClusterFacts, KubernetesTarget};
use ferry_core::topology::Topology;
use ferry_delivery::target::{BoxFuture, MemoryTarget, Target};

use super::KubeTargets;
use crate::{Error, ServerConfig, start};

/// Hands out in-memory targets and records what it was asked to connect.
#[derive(Debug, Default)]
struct FakeKube {
    asked: Mutex<Vec<KubernetesTarget>>,
}

impl KubeTargets for FakeKube {
    fn connect<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<Arc<dyn Target>>> {
        self.asked.lock().unwrap().push(spec.clone());
        Box::pin(async { Ok(Arc::new(MemoryTarget::new()) as Arc<dyn Target>) })
    }

    /// A kubeconfig cluster answers; the in-cluster one is unreachable.
    fn facts<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<ClusterFacts>> {
        Box::pin(async move {
            if spec.in_cluster {
                return Err(ferry_delivery::Error::Target("connection refused".into()));
            }
            Ok(ClusterFacts {
                server: "https://10.0.0.1:6443".into(),
                version: "v1.34.4".into(),
                nodes: 3,
                ready_nodes: 2,
            })
        })
    }
}

fn topology(region_target: &str) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n{region_target}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev}}\nspec: {{region: uk, target: {{embedded: {{}}}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod}}\nspec: {{region: uk, target: {{kubernetes: {{kubeconfig: kube/prod.yaml, context: prod}}}}}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod-eu}}\nspec: {{region: uk, target: {{kubernetes: {{kubeconfig: kube/prod.yaml, context: prod}}}}}}\n"
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

fn config(topology: Topology, dir: &std::path::Path, kube: Option<Arc<FakeKube>>) -> ServerConfig {
    ServerConfig {
        topology,
        data_root: dir.to_path_buf(),
        config_dir: dir.join("conf"),
        auth_enabled: false,
        known_tokens: BTreeMap::new(),
        kube_targets: kube.map(|k| k as Arc<dyn KubeTargets>),
    }
}

#[tokio::test]
async fn a_kubernetes_target_without_a_connector_is_refused_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let err = start(config(topology(""), dir.path(), None))
        .await
        .unwrap_err();
    let Error::NoKubernetes { named } = &err else {
        panic!("expected NoKubernetes, got {err}");
    };
    assert_eq!(named, &["environment `prod`", "environment `prod-eu`"]);
    assert!(err.to_string().contains("spec.target.kubernetes"), "{err}");
    assert!(!dir.path().join("uk").exists(), "nothing started");
}

#[tokio::test]
async fn environments_naming_one_cluster_share_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let kube = Arc::new(FakeKube::default());
    let running = start(config(topology(""), dir.path(), Some(kube.clone())))
        .await
        .unwrap();
    let asked = kube.asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        1,
        "prod and prod-eu share a cluster: {asked:?}"
    );
    assert_eq!(
        asked[0].kubeconfig,
        Some(dir.path().join("conf/kube/prod.yaml")),
        "relative to the topology's directory"
    );
    assert_eq!(asked[0].context.as_deref(), Some("prod"));
    running.shutdown().await;
}

#[tokio::test]
async fn a_regions_target_is_the_default_of_its_environments() {
    let dir = tempfile::tempdir().unwrap();
    let kube = Arc::new(FakeKube::default());
    let topo = topology("  target: {kubernetes: {inCluster: true}}\n");
    let running = start(config(topo, dir.path(), Some(kube.clone())))
        .await
        .unwrap();
    let asked: Vec<PathBuf> = kube
        .asked
        .lock()
        .unwrap()
        .iter()
        .map(|k| {
            k.kubeconfig
                .clone()
                .unwrap_or_else(|| "<in cluster>".into())
        })
        .collect();
    assert_eq!(
        asked,
        [
            dir.path().join("conf/kube/prod.yaml"),
            "<in cluster>".into()
        ]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn the_clusters_route_lists_each_cluster_with_its_facts_or_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let kube = Arc::new(FakeKube::default());
    let topo = topology("  target: {kubernetes: {inCluster: true}}\n");
    let running = start(config(topo, dir.path(), Some(kube))).await.unwrap();
    let api = running.region("uk").unwrap().api;
    let token = running.new_admin_tokens()["uk"].clone();
    let get = |path: &str| {
        reqwest::Client::new()
            .get(format!("http://{api}/api/v1/{path}"))
            .bearer_auth(&token)
            .send()
    };
    let v: serde_json::Value = get("clusters").await.unwrap().json().await.unwrap();
    let items = v["items"].as_array().unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(items.len(), 2, "{v:#}");
    let incluster = &items[0];
    assert_eq!(incluster["name"], "in-cluster");
    assert_eq!(incluster["regions"], serde_json::json!(["uk"]));
    assert!(
        incluster["error"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
    assert!(incluster.get("version").is_none());
    let prod = &items[1];
    assert_eq!(prod["name"], "prod");
    assert_eq!(prod["server"], "https://10.0.0.1:6443");
    assert_eq!(
        (&prod["nodes"], &prod["readyNodes"]),
        (&3.into(), &2.into())
    );
    assert_eq!(prod["environments"], serde_json::json!(["prod", "prod-eu"]));
    assert!(prod.get("kubeconfig").is_none(), "no file path or contents");

    let one = get("clusters/prod").await.unwrap();
    assert!(one.status().is_success());
    let missing = get("clusters/nope").await.unwrap();
    assert_eq!(missing.status(), 404);
    let text = missing.text().await.unwrap();
    assert!(text.contains("in-cluster, prod"), "{text}");
    running.shutdown().await;
}
