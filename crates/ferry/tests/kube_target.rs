//! `ferry up` delivering to a real Kubernetes API server: an Environment
//! whose `spec.target.kubernetes` names the test cluster's kubeconfig and
//! context gets its application's objects by server-side apply, and a
//! kubectl edit of one of them is reverted by self-heal (drift seen through
//! the target's watch). `ferry cluster list|get` show that cluster with
//! its version, nodes, environment and application, and no credential.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{cli, ok, text, up};
use ferry_test_support::kube::KubeCluster;
use ferry_test_support::{git, git_commit, poll, temp_dir, topology_yaml};
use serde_json::Value;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {key: from-git}\n";

/// A topology in `dir`: region `uk`, environment `dev` on `cluster`
/// (context `ferry-test`), application `web` from a git repository there.
fn topology_on(cluster: &KubeCluster, dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/cm.yaml", CM)], "first");
    let topo = dir.join("topology.yaml");
    let text = format!(
        "{}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\n\
         spec: {{region: uk, target: {{kubernetes: {{kubeconfig: '{}', context: ferry-test}}}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repoUrl: '{}', path: k8s}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n",
        topology_yaml(&["uk"], dir),
        cluster.kubeconfig().display(),
        repo.display(),
    );
    std::fs::write(&topo, text).unwrap();
    topo
}

#[test]
fn up_delivers_to_a_kubernetes_environment_and_reverts_drift() {
    let cluster = KubeCluster::start_api();
    let dir = temp_dir();
    let topo = topology_on(&cluster, dir.path());
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

#[test]
fn cluster_list_and_get_show_version_nodes_environment_and_apps_without_credentials() {
    let cluster = KubeCluster::start_with_controllers();
    let dir = temp_dir();
    let topo = topology_on(&cluster, dir.path());
    let (_up, api) = up(&topo, dir.path());
    let list: Value = poll(
        "web Synced and Healthy in `ferry cluster list`",
        Duration::from_secs(60),
        || {
            let out = cli(&api, &["cluster", "list", "-o", "json"]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let app = &v["items"][0]["apps"][0];
            (app["sync"] == "Synced" && app["health"] == "Healthy").then_some(v)
        },
    );
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list:#}");
    let c = &items[0];
    assert_eq!(c["name"], "ferry-test", "named by its context");
    assert_eq!(c["context"], "ferry-test");
    assert_eq!(c["server"], cluster.server().as_str());
    assert_eq!(c["version"], "v1.34.4");
    assert_eq!(c["nodes"], 1, "{c:#}");
    assert_eq!(c["readyNodes"], 1, "{c:#}");
    assert_eq!(c["environments"], serde_json::json!(["dev"]));
    let app = &c["apps"][0];
    assert_eq!(
        (&app["name"], &app["environment"], &app["namespace"]),
        (&"web".into(), &"dev".into(), &"dev".into())
    );

    let table = ok(cli(&api, &["cluster", "list"]));
    let row = table
        .lines()
        .find(|l| l.starts_with("ferry-test"))
        .expect(&table);
    for cell in [cluster.server().as_str(), "v1.34.4", "1/1", "dev"] {
        assert!(row.contains(cell), "{cell} missing from {table}");
    }
    let wide = ok(cli(&api, &["cluster", "list", "-o", "wide"]));
    assert!(wide.contains("web@dev:Synced/Healthy"), "{wide}");
    let get = ok(cli(&api, &["cluster", "get", "ferry-test"]));
    assert!(get.contains("Version:       v1.34.4"), "{get}");
    assert!(get.contains("Nodes:         1 (1 ready)"), "{get}");
    assert!(
        get.lines()
            .any(|l| l.contains("web") && l.contains("Synced") && l.contains("Healthy")),
        "{get}"
    );
    let yaml = ok(cli(&api, &["cluster", "get", "ferry-test", "-o", "yaml"]));
    assert!(yaml.contains("readyNodes: 1"), "{yaml}");

    eprintln!("{table}{wide}{get}");

    let missing = cli(&api, &["cluster", "get", "nope"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("no cluster `nope`") && text(&missing).contains("ferry-test"),
        "{}",
        text(&missing)
    );

    // No credential in any form of the output: neither the client key nor
    // the certificates, nor where the kubeconfig keeps them.
    let key = std::fs::read_to_string(cluster.dir().join("pki/admin.key")).unwrap();
    let key_line = key.lines().nth(1).expect("a PEM body line");
    for out in [&list.to_string(), &table, &wide, &get, &yaml] {
        assert!(!out.contains(key_line), "the client key leaked: {out}");
        assert!(!out.contains("BEGIN"), "a PEM block leaked: {out}");
        assert!(!out.contains("pki"), "a credential path leaked: {out}");
        assert!(!out.to_lowercase().contains("token"), "{out}");
    }
}
