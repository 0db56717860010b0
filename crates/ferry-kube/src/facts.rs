//! What a cluster reports about itself for `ferry cluster list|get`: the
//! API server's URL (recorded at connect, user information dropped), its
//! version from `/version`, and its nodes with how many are Ready. Nothing
//! here reads or returns a credential.

use ferry_core::target_spec::ClusterFacts;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::cluster::KubeTarget;
use crate::error::{Error, Result};

/// Nodes per list page (a large fleet is listed in pages).
const PAGE: u32 = 500;

impl KubeTarget {
    /// The API server's URL, version and node counts.
    pub async fn facts(&self) -> Result<ClusterFacts> {
        let version = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| Error::api("get /version", e))?;
        let (nodes, ready_nodes) = self.count_nodes().await?;
        Ok(ClusterFacts {
            server: self.server.clone().unwrap_or_default(),
            version: version.git_version,
            nodes,
            ready_nodes,
        })
    }

    /// All nodes and the Ready ones, page by page.
    async fn count_nodes(&self) -> Result<(usize, usize)> {
        let api: Api<Node> = Api::all(self.client.clone());
        let (mut all, mut ready) = (0, 0);
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| Error::api("list nodes", e))?;
            all += page.items.len();
            ready += page.items.iter().filter(|n| is_ready(n)).count();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok((all, ready)),
            }
        }
    }
}

/// Whether a node's `Ready` condition is `True` (as `kubectl get nodes`).
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(conditions: &[(&str, &str)]) -> Node {
        let conditions: Vec<serde_json::Value> = conditions
            .iter()
            .map(|(t, s)| serde_json::json!({"type": t, "status": s}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    #[test]
    fn ready_means_a_true_ready_condition() {
        assert!(is_ready(&node(&[
            ("MemoryPressure", "False"),
            ("Ready", "True")
        ])));
        assert!(!is_ready(&node(&[("Ready", "Unknown")])));
        assert!(!is_ready(&node(&[("MemoryPressure", "True")])));
        assert!(!is_ready(&node(&[])));
    }
}
