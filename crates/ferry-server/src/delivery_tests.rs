//! Tests of the per-environment target seam: refused without a Kubernetes
//! connector, and with one, one connection per distinct cluster with the
//! kubeconfig resolved against the topology's directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferry_core::target_spec::KubernetesTarget;
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
