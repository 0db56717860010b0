//! How [`crate::kube::KubeCluster`] starts each component: the same flags
//! as `scripts/k8s/up.sh`'s API mode, but with free ports and every path
//! under the cluster's temporary directory. Certificates come from
//! `scripts/k8s/certs.sh`, run for that directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::free_port;
use crate::kube::ADMIN_TOKEN;

/// A fake node kwok keeps Ready; no taints, so any pod may be scheduled.
pub(crate) const FAKE_NODE: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
"#;

/// `scripts/k8s` of this checkout.
fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/k8s")
}

/// Runs `certs.sh` with its PKI directory set to `<dir>/pki` and the API
/// port in the kubeconfigs it writes.
pub(crate) fn make_certs(dir: &Path, port: u16) {
    let out = Command::new("bash")
        .arg(kit().join("certs.sh"))
        .env("K8S_PKI", dir.join("pki"))
        .env("K8S_API_PORT", port.to_string())
        .env("K8S_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("FERRY_K8S_NODE", crate::kube_node::NODE)
        .env_remove("FERRY_K8S_NETNS")
        .output()
        .expect("run scripts/k8s/certs.sh (bash, openssl)");
    assert!(
        out.status.success(),
        "scripts/k8s/certs.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The admin kubeconfig with context `ferry-test`; returns its path.
pub(crate) fn write_kubeconfig(dir: &Path, port: u16) -> PathBuf {
    let pki = dir.join("pki");
    let text = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters: [{{name: ferry-test, cluster: {{server: \"https://127.0.0.1:{port}\", certificate-authority: \"{ca}\"}}}}]\n\
         users: [{{name: admin, user: {{client-certificate: \"{crt}\", client-key: \"{key}\"}}}}]\n\
         contexts: [{{name: ferry-test, context: {{cluster: ferry-test, user: admin}}}}]\n\
         current-context: ferry-test\n",
        ca = pki.join("ca.crt").display(),
        crt = pki.join("admin.crt").display(),
        key = pki.join("admin.key").display(),
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// etcd with its data under `<dir>/etcd`, client port `port`.
pub(crate) fn etcd_command(bin: &Path, dir: &Path, port: u16) -> Command {
    let peer = format!("http://127.0.0.1:{}", free_port());
    let client = format!("http://127.0.0.1:{port}");
    let mut c = Command::new(bin.join("etcd"));
    c.args(["--name", "ferry-test", "--unsafe-no-fsync"])
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!(
            "--listen-metrics-urls=http://127.0.0.1:{}",
            free_port()
        ))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=ferry-test={peer}"));
    c
}

/// kube-apiserver on `127.0.0.1:port`, storing in etcd at `etcd_port`.
pub(crate) fn apiserver_command(bin: &Path, dir: &Path, port: u16, etcd_port: u16) -> Command {
    let pki = dir.join("pki");
    let p = |f: &str| pki.join(f).display().to_string();
    let mut c = Command::new(bin.join("kube-apiserver"));
    c.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
        .arg(format!("--secure-port={port}"))
        .args(["--endpoint-reconciler-type=none", "--profiling=false"])
        .arg(format!("--tls-cert-file={}", p("apiserver.crt")))
        .arg(format!("--tls-private-key-file={}", p("apiserver.key")))
        .arg(format!("--client-ca-file={}", p("ca.crt")))
        .arg(format!("--token-auth-file={}", p("tokens.csv")))
        .args(["--authorization-mode=Node,RBAC", "--allow-privileged=true"])
        .arg(format!("--service-account-key-file={}", p("sa.pub")))
        .arg(format!(
            "--service-account-signing-key-file={}",
            p("sa.key")
        ))
        .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
        .arg("--service-cluster-ip-range=10.96.0.0/16")
        .arg(format!(
            "--kubelet-client-certificate={}",
            p("apiserver-kubelet-client.crt")
        ))
        .arg(format!(
            "--kubelet-client-key={}",
            p("apiserver-kubelet-client.key")
        ));
    // The aggregation layer, as kubeadm configures it (extension API
    // servers such as metrics-server trust these headers).
    c.arg(format!(
        "--requestheader-client-ca-file={}",
        p("front-proxy-ca.crt")
    ))
    .args([
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    ])
    .arg(format!(
        "--proxy-client-cert-file={}",
        p("front-proxy-client.crt")
    ))
    .arg(format!(
        "--proxy-client-key-file={}",
        p("front-proxy-client.key")
    ));
    c
}

/// kube-controller-manager with the kit's certificates.
pub(crate) fn controller_manager_command(bin: &Path, pki: &Path) -> Command {
    let p = |f: &str| pki.join(f).display().to_string();
    let k = p("controller-manager.kubeconfig");
    let mut c = Command::new(bin.join("kube-controller-manager"));
    c.arg(format!("--kubeconfig={k}"))
        .arg(format!("--authentication-kubeconfig={k}"))
        .arg(format!("--authorization-kubeconfig={k}"))
        .args(["--bind-address=127.0.0.1", "--leader-elect=false"])
        .arg(format!("--secure-port={}", free_port()))
        .arg(format!(
            "--service-account-private-key-file={}",
            p("sa.key")
        ))
        .arg(format!("--root-ca-file={}", p("ca.crt")))
        .arg("--use-service-account-credentials=true")
        .arg(format!("--cluster-signing-cert-file={}", p("ca.crt")))
        .arg(format!("--cluster-signing-key-file={}", p("ca.key")))
        .args(["--allocate-node-cidrs=true", "--cluster-cidr=10.244.0.0/16"])
        .arg("--service-cluster-ip-range=10.96.0.0/16");
    c
}
