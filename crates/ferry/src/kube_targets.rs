//! The Kubernetes targets `ferry up` plugs into the server: every
//! `spec.target.kubernetes` of the topology becomes a `ferry-kube`
//! [`KubeTarget`] (one per distinct cluster spec; the server keeps them),
//! and `ferry cluster` asks the same connections for their facts.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_core::target_spec::{ClusterFacts, KubernetesTarget};
use ferry_delivery::target::{BoxFuture, Target};
use ferry_kube::{ClusterSource, KubeTarget};

/// Connects `target: {kubernetes: ...}` through kube-rs.
#[derive(Debug, Default)]
pub struct KubeConnector {
    /// The connected clusters, by spec (reused for their facts).
    connected: tokio::sync::Mutex<HashMap<KubernetesTarget, KubeTarget>>,
}

impl KubeConnector {
    /// The connection to `spec`'s cluster, made on first use.
    async fn target(&self, spec: &KubernetesTarget) -> ferry_kube::Result<KubeTarget> {
        let mut connected = self.connected.lock().await;
        if let Some(t) = connected.get(spec) {
            return Ok(t.clone());
        }
        let target = KubeTarget::connect(&ClusterSource::from_spec(spec)).await?;
        connected.insert(spec.clone(), target.clone());
        Ok(target)
    }
}

impl ferry_server::KubeTargets for KubeConnector {
    fn connect<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<Arc<dyn Target>>> {
        Box::pin(async move { Ok(Arc::new(self.target(spec).await?) as Arc<dyn Target>) })
    }

    fn facts<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<ClusterFacts>> {
        Box::pin(async move { Ok(self.target(spec).await?.facts().await?) })
    }
}
