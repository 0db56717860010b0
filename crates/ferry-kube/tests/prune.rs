//! ApplySet inventory and prune against a real API server: only members
//! of the app's set that left the desired set are deleted; objects ferry
//! did not apply are left alone even when they carry ferry's labels; and
//! kubectl's own ApplySet prune agrees on what belongs to the set.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{config_map, ctx, kubectl_ok, obj, target};
use ferry_delivery::object::ObjKey;
use ferry_kube::applyset::ApplySet;
use ferry_kube::keys_of;
use ferry_test_support::kube::{KubeCluster, k8s_bin};
use serde_json::json;

fn exists(cluster: &KubeCluster, kind: &str, name: &str) -> bool {
    cluster
        .kubectl(&["get", kind, name, "-n", "apps"])
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_members_that_left_the_set() {
    let cluster = common::start_api().await;
    let t = target(&cluster).await;
    let c = ctx("web", "apps");
    let a = config_map(&c, "a", "1");
    let b = config_map(&c, "b", "1");
    let svc = obj(
        &c,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"ports": [{"port": 80}]}}),
    );
    t.apply_batch(&c, vec![a.clone(), b, svc], false)
        .await
        .expect("apply");
    // Another app's member, and an object with ferry's labels that ferry
    // never applied (no part-of label).
    let other = ctx("api", "apps");
    t.apply_batch(&other, vec![config_map(&other, "api-cfg", "1")], false)
        .await
        .expect("apply other app");
    cluster.apply_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stranger, namespace: apps, labels: \
         {app.ferry.dev/name: web, app.ferry.dev/environment: dev}}\n",
    );

    let gone = t
        .prune(&c, &keys_of(std::slice::from_ref(&a)))
        .await
        .expect("prune");
    let names: Vec<_> = gone.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["web", "b"], "routing first, then config");
    assert!(exists(&cluster, "cm", "a"));
    assert!(!exists(&cluster, "cm", "b"));
    assert!(!exists(&cluster, "svc", "web"));
    assert!(
        exists(&cluster, "cm", "stranger"),
        "pruned an object ferry never applied"
    );
    assert!(
        exists(&cluster, "cm", "api-cfg"),
        "pruned another app's object"
    );
    let set = ApplySet::new("web", "dev", "apps");
    let kinds = kubectl_ok(
        &cluster,
        &[
            "get",
            "secret",
            &set.name,
            "-n",
            "apps",
            "-o",
            "jsonpath={.metadata.annotations.applyset\\.kubernetes\\.io/contains-group-kinds}",
        ],
    );
    assert_eq!(kinds, "ConfigMap", "the parent is narrowed to what is left");

    // The engine's delete path refuses what ferry did not apply, too.
    let stranger = ObjKey {
        group_kind: a.group_kind.clone(),
        namespace: Some("apps".into()),
        name: "stranger".into(),
    };
    t.delete_checked(&[stranger]).await.expect("delete");
    assert!(exists(&cluster, "cm", "stranger"));
}

/// kubectl with the ApplySet alpha enabled.
fn kubectl_applyset(cluster: &KubeCluster, args: &[&str]) -> std::process::Output {
    Command::new(k8s_bin().join("kubectl"))
        .env("KUBECTL_APPLYSET", "true")
        .arg(format!("--kubeconfig={}", cluster.kubeconfig().display()))
        .args(args)
        .output()
        .expect("run kubectl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applyset_prune_agrees_with_ferry() {
    let cluster = common::start_api().await;
    let t = target(&cluster).await;
    let c = ctx("web", "apps");
    t.apply_batch(
        &c,
        vec![config_map(&c, "a", "1"), config_map(&c, "b", "1")],
        false,
    )
    .await
    .expect("apply");
    let set = ApplySet::new("web", "dev", "apps");
    let parent = format!("--applyset=secret/{}", set.name);
    let dir = tempfile::tempdir().unwrap();
    let cm = |n: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: apps}}\ndata: {{key: '1'}}\n"
        )
    };
    let both = dir.path().join("both.yaml");
    std::fs::write(&both, format!("{}---\n{}", cm("a"), cm("b"))).unwrap();
    let only_a = dir.path().join("a.yaml");
    std::fs::write(&only_a, cm("a")).unwrap();
    let prune = |file: &std::path::Path| {
        let f = file.to_string_lossy().into_owned();
        kubectl_applyset(
            &cluster,
            &[
                "apply",
                "--server-side",
                "--field-manager=ferry",
                "--prune",
                &parent,
                "-n",
                "apps",
                "--dry-run=server",
                "-f",
                &f,
            ],
        )
    };

    // kubectl sees ferry's parent as a set managed by another tool.
    let out = prune(&both);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("\"ferry\""), "{err}");

    // With kubectl's tooling mark, kubectl's prune of the same set deletes
    // nothing, and without `b` deletes exactly `b`: same members, same id.
    kubectl_ok(
        &cluster,
        &[
            "annotate",
            "secret",
            &set.name,
            "-n",
            "apps",
            "--overwrite",
            "applyset.kubernetes.io/tooling=kubectl/v1.34.4",
        ],
    );
    let out = prune(&both);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("pruned"), "{text}");
    let out = prune(&only_a);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pruned: BTreeSet<&str> = text.lines().filter(|l| l.contains("pruned")).collect();
    assert_eq!(pruned.len(), 1, "{text}");
    assert!(pruned.iter().all(|l| l.contains("configmap/b")), "{text}");
}
