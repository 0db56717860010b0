//! What a [`crate::kube_node::KubeNode`] adds on request
//! ([`KubeNodeBuilder`]) so Services work as on a real cluster: kube-proxy
//! (iptables mode, the kit's `templates/kube-proxy.yaml`) and cluster DNS
//! (CoreDNS with its `kubernetes` plugin, built by the kit from
//! `go/coredns-wrap`). Both run as processes inside the node's network
//! namespace, so their rules and sockets exist only there. CoreDNS is no
//! pod (there is no image for it): it listens on port 53 of the namespace,
//! and the `kube-dns` Service in `kube-system` (ClusterIP [`DNS_IP`], no
//! selector) has a hand-made EndpointSlice at the node IP, so pods reach it
//! through kube-proxy at the address the kubelet's `clusterDNS` names, as
//! on kubeadm's clusters. CoreDNS reads the API as the `coredns`
//! ServiceAccount with kubeadm's `system:coredns` role.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::kube::KubeCluster;
use crate::kube_node::{KubeNode, NODE, NODE_IP};
use crate::netns::Netns;
use crate::{Proc, poll};

/// The `kube-dns` Service's ClusterIP (kubeadm's choice in 10.96.0.0/16),
/// written into the kubelet's `clusterDNS`.
pub const DNS_IP: &str = "10.96.0.10";

/// How long an addon gets to become ready (the machine may be busy).
const READY: Duration = Duration::from_secs(60);

/// What a [`KubeNode`] runs besides the kubelet; see [`KubeNode::builder`].
#[derive(Debug, Default, Clone)]
pub struct KubeNodeBuilder {
    pub(crate) mirrors: Vec<SocketAddr>,
    pub(crate) proxy: bool,
    pub(crate) dns: bool,
    pub(crate) metrics: bool,
    pub(crate) ingress: bool,
}

impl KubeNodeBuilder {
    /// Host loopback registries (plain HTTP) the node may pull from.
    #[must_use]
    pub fn mirrors(mut self, mirrors: &[SocketAddr]) -> Self {
        self.mirrors = mirrors.to_vec();
        self
    }

    /// Runs kube-proxy in the node's namespace (ClusterIP and NodePort
    /// Services).
    #[must_use]
    pub fn proxy(mut self, on: bool) -> Self {
        self.proxy = on;
        self
    }

    /// Runs CoreDNS for `cluster.local` behind the `kube-dns` Service at
    /// [`DNS_IP`], the kubelet's `clusterDNS`; implies [`Self::proxy`].
    #[must_use]
    pub fn cluster_dns(mut self, on: bool) -> Self {
        self.dns = on;
        self
    }

    /// Runs metrics-server, registered as the `metrics.k8s.io` API (see
    /// `kube_node_metrics`), so HorizontalPodAutoscalers get resource
    /// metrics.
    #[must_use]
    pub fn metrics_server(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Runs Traefik as the Ingress controller (see `kube_node_ingress`):
    /// Ingresses without a class are served at [`crate::kube_node::INGRESS_HTTP`]
    /// and get the node IP in their status.
    #[must_use]
    pub fn ingress_controller(mut self, on: bool) -> Self {
        self.ingress = on;
        self
    }

    /// Starts the cluster and its node; returns once every part is ready.
    pub fn start(self) -> KubeNode {
        KubeNode::start_with(&self)
    }
}

/// The kubelet configuration lines that make pods use cluster DNS.
pub(crate) fn kubelet_dns_config() -> String {
    format!("clusterDNS: [\"{DNS_IP}\"]\n")
}

/// Starts kube-proxy inside `netns` with the kit's configuration rendered
/// for the cluster in `dir`; returns once its `/healthz` answers (its first
/// sync of the rules is done).
pub(crate) fn start_kube_proxy(netns: &Netns, dir: &Path, logs: &Path) -> Proc {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/k8s/templates");
    let conf = dir.join("conf/kube-proxy.yaml");
    let text = std::fs::read_to_string(kit.join("kube-proxy.yaml"))
        .expect("read the kube-proxy template")
        .replace("@K8S_PEERS@", &dir.display().to_string())
        .replace("@NODE@", NODE);
    std::fs::write(&conf, text).expect("write kube-proxy.yaml");
    let peers = crate::peers_dir().join("k8s");
    let lib = peers
        .join("root/usr/lib")
        .join(format!("{}-linux-gnu", std::env::consts::ARCH));
    let bin = crate::kube::k8s_bin().join("kube-proxy");
    assert!(
        bin.is_file(),
        "{} is missing: run `bash scripts/setup.sh --test-peers`",
        bin.display()
    );
    let mut c = netns.command(&bin);
    c.env(
        "PATH",
        format!(
            "{}:{}",
            peers.join("sbin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .env("LD_LIBRARY_PATH", &lib)
    .env("XTABLES_LIBDIR", lib.join("xtables"))
    .arg(format!("--config={}", conf.display()));
    let p = Proc::spawn("kube-proxy", c, logs);
    poll("kube-proxy's /healthz", READY, || {
        curl_ok(netns, "http://127.0.0.1:10256/healthz").then_some(())
    });
    p
}

/// kubeadm's `coredns` ServiceAccount and `system:coredns` role, and the
/// `kube-dns` Service with its EndpointSlice at the node IP.
fn dns_objects() -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: coredns, namespace: kube-system}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:coredns"}}
rules:
- {{apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}}
- {{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}}
subjects: [{{kind: ServiceAccount, name: coredns, namespace: kube-system}}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns, kubernetes.io/name: CoreDNS}}
spec:
  clusterIP: {DNS_IP}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {{kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: ferry-test-support}}
addressType: IPv4
ports:
- {{name: dns, port: 53, protocol: UDP}}
- {{name: dns-tcp, port: 53, protocol: TCP}}
endpoints:
- {{addresses: ["{NODE_IP}"], conditions: {{ready: true}}, nodeName: {NODE}}}
"#
    )
}

/// The Corefile: `cluster.local` and the reverse zones from the API
/// server, nothing forwarded (tests reach no outside resolver).
fn corefile(kubeconfig: &Path) -> String {
    format!(
        ".:53 {{\n    errors\n    log\n    ready 127.0.0.1:8181\n    \
         kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        \
         kubeconfig {} ferry-test\n        pods insecure\n        ttl 5\n    }}\n}}\n",
        kubeconfig.display()
    )
}

/// A kubeconfig naming the cluster's CA and `token`.
pub(crate) fn token_kubeconfig(cluster: &KubeCluster, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\n\
         clusters: [{{name: ferry-test, cluster: {{server: \"{}\", certificate-authority: \"{}\"}}}}]\n\
         users: [{{name: sa, user: {{token: \"{token}\"}}}}]\n\
         contexts: [{{name: ferry-test, context: {{cluster: ferry-test, user: sa}}}}]\n\
         current-context: ferry-test\n",
        cluster.server(),
        cluster.ca_file().display()
    )
}

/// Applies the DNS objects, then starts CoreDNS inside `netns` and
/// returns once it answers for the `kubernetes` Service through the
/// `kube-dns` ClusterIP (so kube-proxy must already run).
pub(crate) fn start_cluster_dns(netns: &Netns, cluster: &KubeCluster) -> Proc {
    let bin = crate::kube::k8s_bin().join("coredns");
    assert!(
        bin.is_file(),
        "{} is missing: run `bash scripts/setup.sh --test-peers`",
        bin.display()
    );
    cluster.apply_text(&dns_objects());
    let token = service_account_token(cluster, "coredns");
    let conf = cluster.dir().join("conf");
    let kubeconfig = conf.join("coredns.kubeconfig");
    std::fs::write(&kubeconfig, token_kubeconfig(cluster, &token)).expect("write kubeconfig");
    let corefile_path = conf.join("Corefile");
    std::fs::write(&corefile_path, corefile(&kubeconfig)).expect("write Corefile");
    let mut c = netns.command(&bin);
    c.arg("-conf").arg(&corefile_path);
    let p = Proc::spawn("coredns", c, &cluster.log_dir());
    poll("CoreDNS ready", READY, || {
        curl_ok(netns, "http://127.0.0.1:8181/ready").then_some(())
    });
    poll("kubernetes.default through kube-dns", READY, || {
        let out = netns.exec(&[
            "busybox",
            "nslookup",
            "kubernetes.default.svc.cluster.local",
            DNS_IP,
        ]);
        let answers = nslookup_answers(&String::from_utf8_lossy(&out.stdout));
        (answers == ["10.96.0.1"]).then_some(())
    });
    p
}

/// A token (24 h) of the ServiceAccount `name` in `kube-system`.
pub(crate) fn service_account_token(cluster: &KubeCluster, name: &str) -> String {
    let out = cluster.kubectl(&[
        "-n",
        "kube-system",
        "create",
        "token",
        name,
        "--duration=24h",
    ]);
    assert!(
        out.status.success(),
        "create {name}'s token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The addresses in busybox `nslookup`'s answer (the `Address` lines after
/// a `Name` line; the ones before it name the server).
pub fn nslookup_answers(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .collect()
}

/// `curl -sf URL` inside `netns` succeeded.
fn curl_ok(netns: &Netns, url: &str) -> bool {
    netns
        .exec(&["curl", "-sf", "-m", "2", "-o", "/dev/null", url])
        .status
        .success()
}

/// What kube-proxy could have changed on the host: `ip_forward` and every
/// `KUBE-` line of the host's iptables and ip6tables rules (read with the
/// kit's iptables-nft, the backend kube-proxy writes with). A test takes
/// it before and after a node with kube-proxy and compares.
pub fn host_netfilter() -> String {
    let peers = crate::peers_dir().join("k8s");
    let lib = peers
        .join("root/usr/lib")
        .join(format!("{}-linux-gnu", std::env::consts::ARCH));
    let mut state = format!(
        "ip_forward={}",
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default()
    );
    for save in ["iptables-save", "ip6tables-save"] {
        let out = std::process::Command::new(peers.join("sbin").join(save))
            .env("LD_LIBRARY_PATH", &lib)
            .env("XTABLES_LIBDIR", lib.join("xtables"))
            .output()
            .unwrap_or_else(|e| panic!("run the kit's {save}: {e}"));
        assert!(
            out.status.success(),
            "{save}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if l.contains("KUBE-") {
                state.push_str(&format!("{save}: {l}\n"));
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nslookup_answers_skip_the_server_lines() {
        let out = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n\
                   Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n";
        assert_eq!(nslookup_answers(out), ["10.96.0.1"]);
        assert!(nslookup_answers("** server can't find x: NXDOMAIN\n").is_empty());
    }

    #[test]
    fn the_kubelet_names_the_kube_dns_cluster_ip() {
        assert_eq!(kubelet_dns_config(), "clusterDNS: [\"10.96.0.10\"]\n");
        assert!(dns_objects().contains("clusterIP: 10.96.0.10"));
        assert!(dns_objects().contains("addresses: [\"10.200.0.10\"]"));
    }
}
