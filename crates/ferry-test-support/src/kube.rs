//! A real Kubernetes for tests: etcd and kube-apiserver v1.34 (built by
//! `scripts/setup.sh --test-peers` into `<peers>/k8s/bin`, see
//! `scripts/k8s/README.md`) on free loopback ports, with their certificates,
//! data and logs in a temporary directory; on request also the
//! controller-manager, the scheduler and kwok with one fake Ready node, so
//! Deployments get ReplicaSets and Pods and become Available. Every process
//! runs in its own process group and is killed on drop; each test gets its
//! own cluster, so test binaries never share one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::kube_cmd::{
    FAKE_NODE, apiserver_command, controller_manager_command, etcd_command, make_certs,
    write_kubeconfig,
};
use crate::{Proc, TempDir, free_port, poll, temp_dir};

/// The static bearer token of the cluster's admin (group system:masters).
pub const ADMIN_TOKEN: &str = "ferry-test-admin-token";

/// How long a component gets to become ready (the machine may be busy
/// compiling in parallel).
const READY: Duration = Duration::from_secs(90);

/// A running cluster; see the module docs. Fields drop in order: the
/// processes die before their directory is removed.
#[derive(Debug)]
pub struct KubeCluster {
    apiserver: Option<Proc>,
    others: Vec<Proc>,
    /// Held only to be killed on drop, after the API server.
    _etcd: Proc,
    port: u16,
    etcd_port: u16,
    bin: PathBuf,
    kubeconfig: PathBuf,
    dir: TempDir,
}

/// Where the Kubernetes binaries are; panics with what to run when absent.
pub fn k8s_bin() -> PathBuf {
    let bin = crate::peers_dir().join("k8s/bin");
    for b in ["etcd", "kube-apiserver", "kubectl"] {
        assert!(
            bin.join(b).is_file(),
            "{} is missing: run `bash scripts/setup.sh --test-peers` to build the Kubernetes test peers",
            bin.join(b).display()
        );
    }
    bin
}

impl KubeCluster {
    /// etcd and the API server only (ready in a few seconds).
    pub fn start_api() -> KubeCluster {
        let bin = k8s_bin();
        let dir = temp_dir();
        let port = free_port();
        make_certs(dir.path(), port);
        let kubeconfig = write_kubeconfig(dir.path(), port);
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("create log dir");
        let (etcd, etcd_port) = start_etcd(&bin, dir.path(), &logs);
        let mut c = KubeCluster {
            apiserver: None,
            others: Vec::new(),
            _etcd: etcd,
            port,
            etcd_port,
            bin,
            kubeconfig,
            dir,
        };
        c.start_apiserver();
        c
    }

    /// The API server plus controller-manager, scheduler and kwok managing
    /// one fake node `kwok-node-0` (no taints: every pod may land there and
    /// kwok reports it Running).
    pub fn start_with_controllers() -> KubeCluster {
        let mut c = Self::start_api();
        c.start_controllers();
        let mut kwok = Command::new(c.bin.join("kwok"));
        let pki = c.dir.path().join("pki");
        kwok.arg(format!(
            "--kubeconfig={}",
            pki.join("kwok.kubeconfig").display()
        ))
        .args(["--manage-all-nodes=false"])
        .args(["--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"])
        .args(["--cidr=10.250.0.0/16", "--node-ip=10.250.255.254"])
        .arg(format!("--server-address=127.0.0.1:{}", free_port()));
        c.others.push(Proc::spawn("kwok", kwok, &c.log_dir()));
        c.apply_text(FAKE_NODE);
        poll("node kwok-node-0 to be Ready", READY, || {
            let out = c.kubectl(&[
                "get",
                "node",
                "kwok-node-0",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            (String::from_utf8_lossy(&out.stdout) == "True").then_some(())
        });
        c
    }

    /// The API server, controller-manager and scheduler, no node (a
    /// [`crate::kube_node::KubeNode`] adds a real one).
    pub fn start_controllers_without_nodes() -> KubeCluster {
        let mut c = Self::start_api();
        c.start_controllers();
        c
    }

    fn start_controllers(&mut self) {
        for b in ["kube-controller-manager", "kube-scheduler", "kwok"] {
            assert!(
                self.bin.join(b).is_file(),
                "{b} is missing: run `bash scripts/setup.sh --test-peers`"
            );
        }
        let pki = self.dir.path().join("pki");
        let logs = self.log_dir();
        let kcm = controller_manager_command(&self.bin, &pki);
        self.others
            .push(Proc::spawn("kube-controller-manager", kcm, &logs));
        let mut sched = Command::new(self.bin.join("kube-scheduler"));
        let k = pki.join("scheduler.kubeconfig");
        sched
            .arg(format!("--kubeconfig={}", k.display()))
            .arg(format!("--authentication-kubeconfig={}", k.display()))
            .arg(format!("--authorization-kubeconfig={}", k.display()))
            .args(["--bind-address=127.0.0.1", "--leader-elect=false"])
            .arg(format!("--secure-port={}", free_port()));
        self.others
            .push(Proc::spawn("kube-scheduler", sched, &logs));
        poll("the default ServiceAccount", READY, || {
            self.kubectl(&["get", "sa", "default", "-n", "default"])
                .status
                .success()
                .then_some(())
        });
    }

    /// The cluster's temporary directory (pki/, logs/, etcd/, ...).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The API server's loopback address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The admin kubeconfig (client certificate; context `ferry-test`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The cluster CA certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("pki/ca.crt")
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Where the components write their logs.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Runs the peers' kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(self.bin.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(["--request-timeout=20s"])
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// `kubectl apply --server-side` of a manifest text; panics on failure.
    pub fn apply_text(&self, yaml: &str) {
        let file = self.dir.path().join("apply.yaml");
        std::fs::write(&file, yaml).expect("write manifest");
        let out = self.kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=test",
            "-f",
            &file.to_string_lossy(),
        ]);
        assert!(
            out.status.success(),
            "kubectl apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the API server (SIGKILL) and starts it again on the same port
    /// and data; returns once it is ready.
    pub fn restart_apiserver(&mut self) {
        self.stop_apiserver();
        self.start_apiserver();
    }

    /// Kills the API server; clients see connection errors until
    /// [`KubeCluster::start_apiserver`].
    pub fn stop_apiserver(&mut self) {
        if let Some(mut p) = self.apiserver.take() {
            p.kill();
        }
    }

    /// Starts the API server (again) and waits for `/readyz`.
    pub fn start_apiserver(&mut self) {
        let cmd = apiserver_command(&self.bin, self.dir.path(), self.port, self.etcd_port);
        let logs = self.log_dir();
        self.apiserver = Some(Proc::spawn("kube-apiserver", cmd, &logs));
        poll("kube-apiserver to answer /readyz", READY, || {
            self.kubectl(&["get", "--raw=/readyz"])
                .status
                .success()
                .then_some(())
        });
    }
}

/// etcd on a free port, ready. A port found free can be taken by another
/// process before etcd binds it (tests run in parallel): when etcd exits
/// before answering, it is started again on other ports, three times.
fn start_etcd(bin: &Path, dir: &Path, logs: &Path) -> (Proc, u16) {
    for attempt in 1..=3 {
        let port = free_port();
        let _ = std::fs::remove_dir_all(dir.join("etcd"));
        let mut etcd = Proc::spawn("etcd", etcd_command(bin, dir, port), logs);
        let health = format!("http://127.0.0.1:{port}/health");
        let up = poll("etcd to answer /health", READY, || {
            if crate::http_ok(&health) {
                Some(true)
            } else {
                etcd.wait_timeout(Duration::ZERO).map(|_| false)
            }
        });
        if up {
            return (etcd, port);
        }
        let log = etcd.stderr();
        let skip = log.chars().count().saturating_sub(2000);
        let tail: String = log.chars().skip(skip).collect();
        eprintln!("etcd exited before answering (attempt {attempt}): …{tail}");
    }
    panic!(
        "etcd did not start in three attempts; see its log in {}",
        logs.display()
    );
}
