//! `ferry up` delivering to a real Kubernetes API server: an Environment
//! whose `spec.target.kubernetes` names the test cluster's kubeconfig and
//! context gets its application's objects by server-side apply, and a
//! kubectl edit of one of them is reverted by self-heal (drift seen through
//! the target's watch).

mod common;

use std::time::{Duration, Instant};

use common::up;
use ferry_test_support::kube::KubeCluster;
use ferry_test_support::{git, git_commit, poll, temp_dir, topology_yaml};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {key: from-git}\n";

#[test]
fn up_delivers_to_a_kubernetes_environment_and_reverts_drift() {
    let cluster = KubeCluster::start_api();
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/cm.yaml", CM)], "first");
    let topo = dir.path().join("topology.yaml");
    let text = format!(
        "{}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\n\
         spec: {{region: uk, target: {{kubernetes: {{kubeconfig: '{}', context: ferry-test}}}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repoUrl: '{}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        topology_yaml(&["uk"], dir.path()),
        cluster.kubeconfig().display(),
        repo.display(),
    );
    std::fs::write(&topo, text).unwrap();
    let (_up, _api) = up(&topo, dir.path());
    let key = || {
        let out = cluster.kubectl(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "dev",
            "-o",
            "jsonpath={.data.key}",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    poll(
        "the ConfigMap on the cluster",
        Duration::from_secs(60),
        || (key()? == "from-git").then_some(()),
    );
    let managers = cluster.kubectl(&[
        "get",
        "cm",
        "cfg",
        "-n",
        "dev",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert_eq!(String::from_utf8_lossy(&managers.stdout), "ferry");

    let started = Instant::now();
    let patch = cluster.kubectl(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "dev",
        "--type=merge",
        "-p",
        r#"{"data":{"key":"drifted"}}"#,
    ]);
    assert!(patch.status.success());
    poll(
        "self-heal of the kubectl edit",
        Duration::from_secs(20),
        || (key()? == "from-git").then_some(()),
    );
    eprintln!(
        "kubectl edit reverted by ferry up in {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}
