//! Environments picking clusters by label, on two real API servers: two
//! `Cluster`s labelled `region: eu` and `region: cn` (both `tier: prod`);
//! environment `prod` selects `tier=prod` and gets the app on both,
//! environment `cn` selects `region=cn` and gets it on that one only.
//! `ferry cluster list` shows both by name with their labels and
//! environments; `ferry app diff` compares each cluster of the fleet (exit
//! 0 when synced; a kubectl edit on one cluster, self-heal off, is exit 1
//! naming `prod@eu`); `ferry validate` refuses a selector matching no
//! cluster, listing the clusters and their labels.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cli, ferry, ok, text, up};
use ferry_test_support::kube::KubeCluster;
use ferry_test_support::{git, git_commit, poll, temp_dir, topology_yaml};
use serde_json::Value;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {key: from-git}\n";

fn cluster_doc(name: &str, region: &str, kubeconfig: &Path) -> String {
    format!(
        "---\napiVersion: ferry.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}, labels: {{region: {region}, tier: prod}}}}\n\
         spec: {{kubeconfig: '{}', context: ferry-test}}\n",
        kubeconfig.display()
    )
}

fn env_doc(name: &str, labels: &str) -> String {
    format!(
        "---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {name}, labels: {{fleet: 'yes'}}}}\n\
         spec: {{region: uk, target: {{kubernetes: {{clusterSelector: {{matchLabels: {labels}}}}}}}}}\n"
    )
}

/// The topology: region `uk`, clusters `eu` and `cn`, environments `prod`
/// (`selector`) and `cn` (region=cn), app `web` in both, self-heal off.
fn topology(eu: &KubeCluster, cn: &KubeCluster, dir: &Path, selector: &str) -> PathBuf {
    let repo = dir.join("repo");
    if !repo.exists() {
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q"]);
        git_commit(&repo, &[("k8s/cm.yaml", CM)], "first");
    }
    let text = [
        topology_yaml(&["uk"], dir),
        cluster_doc("eu", "eu", eu.kubeconfig()),
        cluster_doc("cn", "cn", cn.kubeconfig()),
        env_doc("prod", selector),
        env_doc("cn", "{region: cn}"),
        format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
             source: {{repoUrl: '{}', path: k8s}}\n  environments: {{matchLabels: {{fleet: 'yes'}}}}\n  \
             syncPolicy: {{automated: true, selfHeal: false, prune: true}}\n",
            repo.display()
        ),
    ]
    .concat();
    let file = dir.join("topology.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

fn key(cluster: &KubeCluster, ns: &str) -> Option<String> {
    let out = cluster.kubectl(&["get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.key}"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn environments_pick_clusters_by_label_and_a_fleet_gets_the_app_on_every_one() {
    let eu = KubeCluster::start_api();
    let cn = KubeCluster::start_api();
    let dir = temp_dir();

    // A selector matching no cluster is refused before anything starts.
    let bad = topology(&eu, &cn, dir.path(), "{tier: staging}");
    let out = ferry().args(["validate", "-f"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = text(&out);
    for part in [
        "document 3",
        "spec.target.kubernetes.clusterSelector",
        "matches no cluster",
        "eu {region=eu, tier=prod}, cn {region=cn, tier=prod}",
    ] {
        assert!(err.contains(part), "{part} missing from {err}");
    }

    let topo = topology(&eu, &cn, dir.path(), "{tier: prod}");
    let (_up, api) = up(&topo, dir.path());
    poll(
        "the app on both clusters of prod and on cn's",
        Duration::from_secs(60),
        || {
            let on = [key(&eu, "prod")?, key(&cn, "prod")?, key(&cn, "cn")?];
            on.iter().all(|k| k == "from-git").then_some(())
        },
    );
    assert_eq!(key(&eu, "cn"), None, "cn selects region=cn only");

    let list: Value = poll(
        "both environments Synced in `ferry app list`",
        Duration::from_secs(30),
        || {
            let v: Value =
                serde_json::from_slice(&cli(&api, &["cluster", "list", "-o", "json"]).stdout)
                    .ok()?;
            let apps = v["items"][1]["apps"].as_array()?;
            (apps.len() == 2 && apps.iter().all(|a| a["sync"] == "Synced")).then_some(v)
        },
    );
    let items = list["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["eu", "cn"], "{list:#}");
    assert_eq!(items[0]["labels"]["region"], "eu");
    assert_eq!(items[0]["environments"], serde_json::json!(["prod"]));
    assert_eq!(items[1]["environments"], serde_json::json!(["prod", "cn"]));
    assert_eq!(items[1]["server"], cn.server().as_str());
    let table = ok(cli(&api, &["cluster", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cn") && l.contains("region=cn,tier=prod")),
        "{table}"
    );
    let get = ok(cli(&api, &["cluster", "get", "eu"]));
    assert!(get.contains("Labels:        region=eu,tier=prod"), "{get}");

    // A fresh diff of every cluster: nothing differs.
    let diff = cli(&api, &["app", "diff", "web"]);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));
    let json = cli(&api, &["app", "diff", "web", "--env", "prod", "-o", "json"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let clusters: Vec<&str> = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cluster"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(clusters, ["eu", "cn"], "{v:#}");
    assert!(
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["dryRun"] == "server")
    );

    // An edit on one cluster of the fleet, self-heal off: that cluster differs.
    let patch = eu.kubectl(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "prod",
        "--type=merge",
        "-p",
        r#"{"data":{"key":"edited"}}"#,
    ]);
    assert!(patch.status.success());
    // The comparison of prod above is reused for 5 s: ask until a fresh
    // one sees the edit.
    let diff = poll(
        "a diff of prod with the edit",
        Duration::from_secs(30),
        || {
            let d = cli(&api, &["app", "diff", "web", "--env", "prod"]);
            (d.status.code() == Some(1)).then_some(d)
        },
    );
    let out = text(&diff);
    assert!(
        out.contains("=== prod@eu ConfigMap/prod/cfg (OutOfSync)")
            && out.contains("data.key: edited → from-git")
            && !out.contains("prod@cn"),
        "{out}"
    );
    let unknown = cli(&api, &["app", "diff", "web", "--env", "nope"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("nope"), "{}", text(&unknown));
}
