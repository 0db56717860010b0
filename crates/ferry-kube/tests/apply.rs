//! Server-side apply against a real API server: a CRD and its custom
//! resource in one batch, conflicts with another field manager reported by
//! name and taken over with force, and the server-side dry run.

mod common;

use common::{config_map, ctx, kubectl_ok, obj, target};
use ferry_delivery::object::LABEL_APP;
use ferry_kube::Error;
use ferry_kube::applyset::ApplySet;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_its_custom_resource_apply_in_one_batch() {
    let cluster = common::start_api().await;
    let t = target(&cluster).await;
    let c = ctx("widgets", "apps");
    let crd = obj(
        &c,
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}),
    );
    let widget = obj(
        &c,
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "apps"}, "spec": {"size": 3}}),
    );
    // The engine's order puts the custom resource first; the target must not.
    let applied = t
        .apply_batch(&c, vec![widget, crd], false)
        .await
        .expect("apply CRD and CR");
    assert_eq!(applied[0].group_kind.kind, "CustomResourceDefinition");
    let size = kubectl_ok(
        &cluster,
        &[
            "get",
            "widget",
            "w1",
            "-n",
            "apps",
            "-o",
            "jsonpath={.spec.size}",
        ],
    );
    assert_eq!(size, "3");
    let managers = kubectl_ok(
        &cluster,
        &[
            "get",
            "widget",
            "w1",
            "-n",
            "apps",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ],
    );
    assert_eq!(managers, "ferry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_names_the_other_manager_and_force_takes_over() {
    let cluster = common::start_api().await;
    let t = target(&cluster).await;
    let mut c = ctx("web", "apps");
    t.apply_batch(&c, vec![config_map(&c, "cfg", "one")], false)
        .await
        .expect("first apply");
    // Another field manager takes .data.key over.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cm.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: apps}\ndata: {key: two}\n",
    )
    .unwrap();
    let f = file.to_string_lossy();
    let args = [
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &f,
    ];
    kubectl_ok(&cluster, &args);
    let err = t
        .apply_batch(&c, vec![config_map(&c, "cfg", "three")], false)
        .await
        .expect_err("conflict");
    match &err {
        Error::Conflict {
            managers, fields, ..
        } => {
            assert_eq!(managers, &["other"], "{err}");
            assert_eq!(fields, &[".data.key"], "{err:?}");
        }
        other => panic!("want a conflict, got {other}"),
    }
    assert!(err.to_string().contains("`other`"), "{err}");
    c.force = true;
    t.apply_batch(&c, vec![config_map(&c, "cfg", "three")], false)
        .await
        .expect("forced apply");
    let v = kubectl_ok(
        &cluster,
        &[
            "get",
            "cm",
            "cfg",
            "-n",
            "apps",
            "-o",
            "jsonpath={.data.key}",
        ],
    );
    assert_eq!(v, "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_the_servers_object_and_changes_nothing() {
    let cluster = common::start_api().await;
    let t = target(&cluster).await;
    let c = ctx("web", "apps");
    t.apply_batch(&c, vec![config_map(&c, "cfg", "one")], false)
        .await
        .expect("apply");
    let svc = obj(
        &c,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"ports": [{"port": 80}]}}),
    );
    let dry = t
        .apply_batch(&c, vec![config_map(&c, "cfg", "two"), svc], true)
        .await
        .expect("dry run");
    assert_eq!(dry[0].value["data"]["key"], "two");
    // Server defaults appear (the Service gets its type and a cluster IP).
    assert_eq!(dry[1].value["spec"]["type"], "ClusterIP");
    assert_eq!(dry[1].value["spec"]["ports"][0]["protocol"], "TCP");
    let v = kubectl_ok(
        &cluster,
        &[
            "get",
            "cm",
            "cfg",
            "-n",
            "apps",
            "-o",
            "jsonpath={.data.key}",
        ],
    );
    assert_eq!(v, "one", "a dry run changed the live object");
    let out = cluster.kubectl(&["get", "svc", "web", "-n", "apps"]);
    assert!(!out.status.success(), "a dry run created the Service");
}

/// ferry remembers an environment's namespace and its ApplySet parents
/// between syncs instead of reading them before every apply; when the
/// namespace is deleted behind its back, the next apply fails into it,
/// then creates it and the parent again and applies the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_since_the_last_sync_is_created_again() {
    let cluster = common::start_with_controllers().await;
    let t = target(&cluster).await;
    let c = ctx("web", "gone");
    t.apply_batch(&c, vec![config_map(&c, "cfg", "one")], false)
        .await
        .expect("first apply");
    // A pass lists every parent: from now on the parent is known.
    t.list_labelled(LABEL_APP, "").await.expect("list");
    kubectl_ok(
        &cluster,
        &[
            "delete",
            "namespace",
            "gone",
            "--wait=true",
            "--timeout=60s",
        ],
    );
    t.apply_batch(&c, vec![config_map(&c, "cfg", "two")], false)
        .await
        .expect("apply after the namespace was deleted");
    let got = kubectl_ok(
        &cluster,
        &[
            "get",
            "cm",
            "cfg",
            "-n",
            "gone",
            "-o",
            "jsonpath={.data.key}",
        ],
    );
    assert_eq!(got, "two");
    let set = ApplySet::new("web", "dev", "gone");
    let kinds = kubectl_ok(
        &cluster,
        &[
            "get",
            "secret",
            &set.name,
            "-n",
            "gone",
            "-o",
            "jsonpath={.metadata.annotations.applyset\\.kubernetes\\.io/contains-group-kinds}",
        ],
    );
    assert_eq!(kinds, "ConfigMap", "the parent is back with its kinds");
}
