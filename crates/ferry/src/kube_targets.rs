//! The Kubernetes targets `ferry up` plugs into the server: every
//! `spec.target.kubernetes` of the topology becomes a `ferry-kube`
//! [`KubeTarget`] (one per distinct cluster spec; the server keeps them).

use std::sync::Arc;

use ferry_core::target_spec::KubernetesTarget;
use ferry_delivery::target::{BoxFuture, Target};
use ferry_kube::{ClusterSource, KubeTarget};

/// Connects `target: {kubernetes: ...}` through kube-rs.
#[derive(Debug, Default)]
pub struct KubeConnector;

impl ferry_server::KubeTargets for KubeConnector {
    fn connect<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<Arc<dyn Target>>> {
        Box::pin(async move {
            let target = KubeTarget::connect(&ClusterSource::from_spec(spec)).await?;
            Ok(Arc::new(target) as Arc<dyn Target>)
        })
    }
}
