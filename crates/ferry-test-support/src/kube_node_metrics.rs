//! metrics-server for a [`crate::kube_node::KubeNode`]
//! ([`crate::kube_node::KubeNodeBuilder::metrics_server`]): the resource
//! metrics API (`metrics.k8s.io/v1beta1`) that the controller-manager's
//! HorizontalPodAutoscaler controller and `kubectl top` read, as on a real
//! cluster. metrics-server v0.8.0 (built by `scripts/k8s/build.sh` from
//! `go/metrics-server-wrap`) runs as a process inside the node's network
//! namespace, as the `metrics-server` ServiceAccount with the upstream
//! manifest's RBAC, and scrapes the kubelet's `/metrics/resource` at the
//! node IP. The API server reaches it through the aggregation layer (the
//! front-proxy flags of `kube_cmd.rs`, certificates from `certs.sh`): the
//! `v1beta1.metrics.k8s.io` APIService names the `metrics-server` Service,
//! which is of type ExternalName `127.0.0.1` here because the API server
//! runs in the host's namespace, where only a loopback port forwarded into
//! the node's namespace reaches the server (Endpoints may not hold
//! loopback addresses; the aggregator dials an ExternalName Service's name
//! and the APIService's port). `insecureSkipTLSVerify` as in the upstream
//! manifest (metrics-server serves a self-signed certificate).

use std::net::SocketAddr;
use std::time::Duration;

use crate::kube::KubeCluster;
use crate::kube_node_addons::token_kubeconfig;
use crate::netns::Netns;
use crate::{Proc, poll};

/// The port metrics-server listens on inside the node's namespace.
const PORT: u16 = 4443;

/// How often metrics-server scrapes the kubelet (the upstream manifest's;
/// it must exceed the kubelet request timeout, 10 s).
const RESOLUTION: &str = "15s";

/// The upstream manifest's ServiceAccount and RBAC, the Service (an
/// ExternalName `127.0.0.1`, see the module docs) and the APIService on
/// the forwarded `port`.
fn objects(port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: metrics-server, namespace: kube-system, labels: {{k8s-app: metrics-server}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:aggregated-metrics-reader"
  labels:
    k8s-app: metrics-server
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- {{apiGroups: [metrics.k8s.io], resources: [pods, nodes], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:metrics-server", labels: {{k8s-app: metrics-server}}}}
rules:
- {{apiGroups: [""], resources: [nodes/metrics], verbs: [get]}}
- {{apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: metrics-server-auth-reader, namespace: kube-system, labels: {{k8s-app: metrics-server}}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}}
subjects: [{{kind: ServiceAccount, name: metrics-server, namespace: kube-system}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "metrics-server:system:auth-delegator", labels: {{k8s-app: metrics-server}}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}}
subjects: [{{kind: ServiceAccount, name: metrics-server, namespace: kube-system}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:metrics-server", labels: {{k8s-app: metrics-server}}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}}
subjects: [{{kind: ServiceAccount, name: metrics-server, namespace: kube-system}}]
---
apiVersion: v1
kind: Service
metadata: {{name: metrics-server, namespace: kube-system, labels: {{k8s-app: metrics-server}}}}
spec:
  type: ExternalName
  externalName: 127.0.0.1
  ports: [{{name: https, port: {port}, protocol: TCP}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.metrics.k8s.io, labels: {{k8s-app: metrics-server}}}}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {{name: metrics-server, namespace: kube-system, port: {port}}}
"#
    )
}

/// Starts metrics-server inside `netns` and registers it; returns once
/// the APIService is Available (the API server reaches it and it answers
/// discovery). Pod metrics follow after one or two scrapes.
pub(crate) fn start_metrics_server(netns: &Netns, cluster: &KubeCluster) -> Proc {
    let bin = crate::kube::k8s_bin().join("metrics-server");
    assert!(
        bin.is_file(),
        "{} is missing: run `bash scripts/setup.sh --test-peers`",
        bin.display()
    );
    let inside = SocketAddr::from(([127, 0, 0, 1], PORT));
    let forwarded = netns.forward_out(inside);
    cluster.apply_text(&objects(forwarded.port()));
    let token = crate::kube_node_addons::service_account_token(cluster, "metrics-server");
    let dir = cluster.dir().join("data/metrics-server");
    std::fs::create_dir_all(&dir).expect("create metrics-server dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, token_kubeconfig(cluster, &token)).expect("write kubeconfig");
    let k = kubeconfig.display();
    let mut c = netns.command(&bin);
    c.arg(format!("--kubeconfig={k}"))
        .arg(format!("--authentication-kubeconfig={k}"))
        .arg(format!("--authorization-kubeconfig={k}"))
        .arg(format!("--bind-address={}", inside.ip()))
        .arg(format!("--secure-port={PORT}"))
        .arg(format!("--cert-dir={}", dir.join("certs").display()))
        .arg("--kubelet-preferred-address-types=InternalIP")
        // The kubelet's serving certificate is self-signed, as on kind.
        .arg("--kubelet-insecure-tls")
        .arg(format!("--metric-resolution={RESOLUTION}"));
    let mut p = Proc::spawn("metrics-server", c, &cluster.log_dir());
    poll(
        "the v1beta1.metrics.k8s.io APIService Available",
        Duration::from_secs(90),
        || {
            if p.wait_timeout(Duration::ZERO).is_some() {
                panic!("metrics-server exited: {}", p.stderr());
            }
            let out = cluster.kubectl(&[
                "get",
                "apiservice",
                "v1beta1.metrics.k8s.io",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
            ]);
            (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
        },
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_service_names_the_forwarded_port() {
        let text = objects(31234);
        assert!(text.contains("externalName: 127.0.0.1"));
        assert!(
            text.contains("service: {name: metrics-server, namespace: kube-system, port: 31234}")
        );
        assert!(text.contains("ports: [{name: https, port: 31234, protocol: TCP}]"));
    }
}
