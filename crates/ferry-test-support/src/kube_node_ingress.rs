//! An Ingress controller for a [`crate::kube_node::KubeNode`]
//! ([`crate::kube_node::KubeNodeBuilder::ingress_controller`]): Traefik
//! v3 (built by `scripts/k8s/build.sh` from the Go module proxy) with its
//! `kubernetesIngress` provider, as a process inside the node's network
//! namespace, reading the API as the `traefik` ServiceAccount with the RBAC
//! Traefik documents. It serves Ingresses without a class (Traefik's
//! default) on port 80 of the node IP ([`INGRESS_HTTP`]), sending traffic
//! to the pods of each backend Service, and publishes the node IP in every
//! such Ingress's `status.loadBalancer.ingress`, as a cloud or MetalLB
//! address would be on a real cluster. Version checks and usage reports
//! are off: the test reaches no outside address.

use std::time::Duration;

use crate::kube::KubeCluster;
use crate::kube_node::NODE_IP;
use crate::netns::Netns;
use crate::{Proc, poll};

/// Where Traefik serves HTTP inside the node's namespace.
pub const INGRESS_HTTP: &str = "10.200.0.10:80";

/// Traefik's ping endpoint (its own entry point) inside the namespace.
const PING: &str = "127.0.0.1:9000";

/// The ServiceAccount and the RBAC of Traefik's Kubernetes Ingress
/// provider documentation.
const OBJECTS: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: traefik-ingress-controller}
rules:
- {apiGroups: [""], resources: [services, secrets, nodes], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
- {apiGroups: [extensions, networking.k8s.io], resources: [ingresses, ingressclasses], verbs: [get, list, watch]}
- {apiGroups: [extensions, networking.k8s.io], resources: [ingresses/status], verbs: [update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: traefik-ingress-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik-ingress-controller}
subjects: [{kind: ServiceAccount, name: traefik, namespace: kube-system}]
"#;

/// Traefik's static configuration as flags: the provider talking to the
/// API server at `server` (forwarded into the namespace) with `token`.
fn args(server: &str, token_file: &str, ca_file: &str) -> Vec<String> {
    [
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        "--log.level=INFO",
        "--entrypoints.web.address=:80",
        &format!("--entrypoints.ping.address={PING}"),
        "--ping=true",
        "--ping.entrypoint=ping",
        "--providers.kubernetesingress=true",
        &format!("--providers.kubernetesingress.endpoint={server}"),
        &format!("--providers.kubernetesingress.token={token_file}"),
        &format!("--providers.kubernetesingress.certauthfilepath={ca_file}"),
        &format!("--providers.kubernetesingress.ingressendpoint.ip={NODE_IP}"),
    ]
    .map(str::to_string)
    .to_vec()
}

/// Applies Traefik's RBAC, starts it inside `netns` and returns once it
/// answers its ping.
pub(crate) fn start_ingress_controller(netns: &Netns, cluster: &KubeCluster) -> Proc {
    let bin = crate::kube::k8s_bin().join("traefik");
    assert!(
        bin.is_file(),
        "{} is missing: run `bash scripts/setup.sh --test-peers`",
        bin.display()
    );
    cluster.apply_text(OBJECTS);
    let token = crate::kube_node_addons::service_account_token(cluster, "traefik");
    let dir = cluster.dir().join("data/traefik");
    std::fs::create_dir_all(&dir).expect("create traefik dir");
    // Traefik reads the token itself; kept in a file, out of the process
    // list.
    let token_file = dir.join("token");
    std::fs::write(&token_file, token).expect("write traefik's token");
    let mut c = netns.command(&bin);
    c.args(args(
        &cluster.server(),
        &token_file.display().to_string(),
        &cluster.ca_file().display().to_string(),
    ));
    let mut p = Proc::spawn("traefik", c, &cluster.log_dir());
    let url = format!("http://{PING}/ping");
    poll("Traefik's ping", Duration::from_secs(60), || {
        if p.wait_timeout(Duration::ZERO).is_some() {
            panic!("traefik exited: {}", p.stderr());
        }
        netns
            .exec(&["curl", "-sf", "-m", "2", "-o", "/dev/null", &url])
            .status
            .success()
            .then_some(())
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traefik_publishes_the_node_ip_and_calls_nobody_outside() {
        let a = args("https://127.0.0.1:6443", "/t", "/ca.crt");
        assert!(a.contains(&"--providers.kubernetesingress.ingressendpoint.ip=10.200.0.10".into()));
        assert!(a.contains(&"--global.checknewversion=false".into()));
        assert!(a.contains(&"--global.sendanonymoususage=false".into()));
        assert!(INGRESS_HTTP.starts_with(NODE_IP));
    }
}
