//! A real Kubernetes node for tests: the control plane of a
//! [`KubeCluster`] on host loopback ports, and containerd, runc, the CNI
//! bridge and the kubelet inside a network namespace the test creates, so
//! node and pod addresses (10.200.0.10, 10.244.0.0/24) exist only there.
//! The API server and every registry the node pulls from are forwarded
//! into the namespace at their host loopback addresses. One node per
//! machine at a time (kubelet and kubepods cgroups are machine-wide): a
//! lock file serialises test binaries. Drop stops the pods and daemons and
//! removes mounts, pod namespaces and cgroups, as `scripts/k8s/down.sh`.
//! On request ([`KubeNode::builder`]) the node also runs kube-proxy and
//! cluster DNS (see `kube_node_addons`), metrics-server (see
//! `kube_node_metrics`) and Traefik as Ingress controller (see
//! `kube_node_ingress`), killed first on drop.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use crate::kube::KubeCluster;
pub use crate::kube_node_addons::{DNS_IP, KubeNodeBuilder, host_netfilter, nslookup_answers};
use crate::kube_node_addons::{kubelet_dns_config, start_cluster_dns, start_kube_proxy};
use crate::kube_node_cleanup::cleanup;
pub use crate::kube_node_ingress::INGRESS_HTTP;
use crate::kube_node_ingress::start_ingress_controller;
use crate::kube_node_metrics::start_metrics_server;
use crate::netns::Netns;
use crate::{Proc, free_addr, poll};

/// The node's name and address inside its namespace.
pub const NODE: &str = "ferry-node";
pub const NODE_IP: &str = "10.200.0.10";
/// The sandbox image every pod starts with, pushed to the node's own
/// registry at start.
const PAUSE: &str = "pause:3.10";

/// A running node; see the module docs. Fields drop in order.
#[derive(Debug)]
pub struct KubeNode {
    /// kube-proxy, CoreDNS, metrics-server and Traefik, when asked for;
    /// killed before the kubelet.
    addons: Vec<Proc>,
    kubelet: Option<Proc>,
    containerd: Option<Proc>,
    _registry: Proc,
    netns: Netns,
    cluster: KubeCluster,
    pause_registry: SocketAddr,
    _lock: Flock<File>,
}

impl KubeNode {
    /// Starts a cluster and its node (no kube-proxy, no cluster DNS);
    /// `mirrors` are host loopback registries (plain HTTP) the node may
    /// pull from.
    pub fn start(mirrors: &[SocketAddr]) -> KubeNode {
        Self::builder().mirrors(mirrors).start()
    }

    /// A node with more parts: `KubeNode::builder().mirrors(&[r])
    /// .cluster_dns(true).start()`.
    pub fn builder() -> KubeNodeBuilder {
        KubeNodeBuilder::default()
    }

    pub(crate) fn start_with(opts: &KubeNodeBuilder) -> KubeNode {
        let lock = File::create("/run/lock/ferry-test-k8s-node.lock").expect("create node lock");
        let lock = Flock::lock(lock, FlockArg::LockExclusive).expect("lock node");
        let cluster = KubeCluster::start_controllers_without_nodes();
        let netns = Netns::create(&format!("ferry-k8s-{}", std::process::id()));
        add_node_nic(&netns);
        netns.forward_in(cluster.addr());
        let pause_registry = free_addr();
        let registry = start_registry(&cluster, pause_registry);
        push_pause(&cluster, pause_registry);
        let mut all = opts.mirrors.clone();
        all.push(pause_registry);
        for m in &all {
            netns.forward_in(*m);
        }
        let dir = cluster.dir().to_path_buf();
        render_configs(&dir, pause_registry, &all);
        if opts.dns {
            let kubelet = dir.join("conf/kubelet.yaml");
            let mut text = std::fs::read_to_string(&kubelet).expect("read kubelet.yaml");
            text.push_str(&kubelet_dns_config());
            std::fs::write(&kubelet, text).expect("write kubelet.yaml");
        }
        let mut node = KubeNode {
            addons: Vec::new(),
            kubelet: None,
            containerd: None,
            _registry: registry,
            netns,
            cluster,
            pause_registry,
            _lock: lock,
        };
        node.start_daemons();
        if opts.proxy || opts.dns {
            let logs = node.cluster.log_dir();
            let proxy = start_kube_proxy(&node.netns, node.cluster.dir(), &logs);
            node.addons.push(proxy);
        }
        if opts.dns {
            let dns = start_cluster_dns(&node.netns, &node.cluster);
            node.addons.push(dns);
        }
        if opts.metrics {
            let ms = start_metrics_server(&node.netns, &node.cluster);
            node.addons.push(ms);
        }
        if opts.ingress {
            let traefik = start_ingress_controller(&node.netns, &node.cluster);
            node.addons.push(traefik);
        }
        node
    }

    /// The cluster (kubectl, kubeconfig, API server).
    pub fn cluster(&self) -> &KubeCluster {
        &self.cluster
    }

    /// The node's network namespace (run clients inside with `exec`).
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// Runs `cmd` inside the node's network namespace.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        self.netns.exec(cmd)
    }

    /// The node's own plain-HTTP registry (host loopback, forwarded in),
    /// holding the pause image; tests may push their images there too.
    pub fn registry(&self) -> SocketAddr {
        self.pause_registry
    }

    fn start_daemons(&mut self) {
        let dir = self.cluster.dir().to_path_buf();
        let root = crate::peers_dir().join("k8s/root");
        let path = format!(
            "{}:{}:{}",
            root.join("usr/bin").display(),
            root.join("usr/sbin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let logs = self.cluster.log_dir();
        let mut c = self.netns.command(&root.join("usr/bin/containerd"));
        c.env("PATH", &path)
            .arg("--config")
            .arg(dir.join("conf/containerd.toml"));
        self.containerd = Some(Proc::spawn("containerd", c, &logs));
        let sock = dir.join("run/containerd/containerd.sock");
        poll("containerd's socket", Duration::from_secs(60), || {
            sock.exists().then_some(())
        });
        let bin = crate::kube::k8s_bin();
        let mut k = self.netns.command(&bin.join("kubelet"));
        k.env("PATH", &path)
            .arg(format!(
                "--config={}",
                dir.join("conf/kubelet.yaml").display()
            ))
            .arg(format!(
                "--kubeconfig={}",
                dir.join("pki/kubelet.kubeconfig").display()
            ))
            .arg(format!("--root-dir={}", dir.join("data/kubelet").display()))
            .arg(format!(
                "--cert-dir={}",
                dir.join("data/kubelet/pki").display()
            ))
            .arg(format!("--hostname-override={NODE}"))
            .arg(format!("--node-ip={NODE_IP}"));
        self.kubelet = Some(Proc::spawn("kubelet", k, &logs));
        poll("the node to be Ready", Duration::from_secs(120), || {
            let out = self.cluster.kubectl(&[
                "get",
                "node",
                NODE,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
        });
    }
}

impl Drop for KubeNode {
    fn drop(&mut self) {
        for mut a in self.addons.drain(..) {
            a.kill();
        }
        if let Some(mut k) = self.kubelet.take() {
            k.kill();
        }
        let dir = self.cluster.dir().to_path_buf();
        cleanup(&dir, self.containerd.take());
    }
}

/// A NIC carrying the node IP and the default route (a dummy device, or a
/// veth pair with both ends inside where the kernel has no dummy driver).
fn add_node_nic(ns: &Netns) {
    let n = ns.name();
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(["-n", n])
            .args(args)
            .output()
            .expect("run ip")
    };
    if !ip(&["link", "add", "k8s-node0", "type", "dummy"])
        .status
        .success()
    {
        let out = ip(&[
            "link",
            "add",
            "k8s-node0",
            "type",
            "veth",
            "peer",
            "name",
            "k8s-node0p",
        ]);
        assert!(
            out.status.success(),
            "add node NIC: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ip(&["link", "set", "k8s-node0p", "up"]);
    }
    for args in [
        &["addr", "add", &format!("{NODE_IP}/32"), "dev", "k8s-node0"][..],
        &["link", "set", "k8s-node0", "up"],
        &["route", "add", "default", "dev", "k8s-node0"],
    ] {
        let out = ip(args);
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// CNCF Distribution (the peers' `registry`) on `addr`, data in the
/// cluster's directory.
fn start_registry(cluster: &KubeCluster, addr: SocketAddr) -> Proc {
    let dir = cluster.dir();
    let conf = dir.join("conf/registry.yml");
    std::fs::create_dir_all(dir.join("conf")).expect("create conf dir");
    std::fs::write(
        &conf,
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: \"{}\"}}}}\nhttp: {{addr: \"{addr}\"}}\n",
            dir.join("data/registry").display()
        ),
    )
    .expect("write registry config");
    let mut c = Command::new(crate::peers_dir().join("registry"));
    c.arg("serve")
        .arg(&conf)
        .env("OTEL_TRACES_EXPORTER", "none");
    let p = Proc::spawn("registry", c, &cluster.log_dir());
    let url = format!("http://{addr}/v2/");
    poll("the node registry", Duration::from_secs(30), || {
        crate::http_ok(&url).then_some(())
    });
    p
}

/// Pushes the pause image (the kit's static `pause`) with crane.
fn push_pause(cluster: &KubeCluster, registry: SocketAddr) {
    let root = crate::peers_dir().join("k8s/images/pause-root");
    push_rootfs(
        cluster.dir(),
        &root,
        &format!("{registry}/{PAUSE}"),
        &["--entrypoint=/pause"],
    );
}

/// Pushes a one-layer image of `rootfs` to `reference` with the pinned
/// crane, then sets its config with `crane mutate FLAGS`.
pub fn push_rootfs(scratch: &Path, rootfs: &Path, reference: &str, mutate: &[&str]) {
    let tar = scratch.join("layer.tar");
    let crane = crate::peers_dir().join("crane");
    let steps: [Vec<String>; 3] = [
        vec![
            "tar".into(),
            "--owner=0".into(),
            "--group=0".into(),
            "--mtime=@0".into(),
            "-C".into(),
            rootfs.display().to_string(),
            "-cf".into(),
            tar.display().to_string(),
            ".".into(),
        ],
        vec![
            crane.display().to_string(),
            "append".into(),
            "--insecure".into(),
            "-f".into(),
            tar.display().to_string(),
            "-t".into(),
            reference.into(),
        ],
        [
            crane.display().to_string(),
            "mutate".into(),
            "--insecure".into(),
        ]
        .into_iter()
        .chain(mutate.iter().map(|s| s.to_string()))
        .chain([reference.to_string()])
        .collect(),
    ];
    for s in steps {
        let out = Command::new(&s[0])
            .args(&s[1..])
            .output()
            .expect("run image step");
        assert!(
            out.status.success(),
            "{s:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The kit's templates rendered with every state path under `dir`.
fn render_configs(dir: &Path, pause: SocketAddr, registries: &[SocketAddr]) {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/k8s/templates");
    let root: PathBuf = crate::peers_dir().join("k8s/root");
    let subst = |name: &str| {
        std::fs::read_to_string(kit.join(name))
            .expect("read template")
            .replace("@K8S_PEERS@", &dir.display().to_string())
            .replace("@ROOT@", &root.display().to_string())
            .replace("@REGISTRY@", &pause.to_string())
            .replace("@NODE@", NODE)
            .replace("@KUBELET_ADDR@", NODE_IP)
            .replace("@POD_SUBNET@", "10.244.0.0/24")
            .replace("@POD_GW@", "10.244.0.1")
    };
    let conf = dir.join("conf");
    for d in ["cni", "certs.d"] {
        std::fs::create_dir_all(conf.join(d)).expect("create conf dirs");
    }
    let w = |p: PathBuf, text: String| std::fs::write(p, text).expect("write config");
    w(
        conf.join("containerd.toml"),
        subst("containerd-config.toml"),
    );
    w(conf.join("cni/10-peers.conflist"), subst("cni.conflist"));
    w(conf.join("kubelet.yaml"), subst("kubelet-config.yaml"));
    for r in registries {
        let d = conf.join("certs.d").join(r.to_string());
        std::fs::create_dir_all(&d).expect("create hosts dir");
        w(
            d.join("hosts.toml"),
            format!(
                "server = \"http://{r}\"\n[host.\"http://{r}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        );
    }
}
