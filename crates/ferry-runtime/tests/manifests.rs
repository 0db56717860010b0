//! Applying manifests: the seed's `k8s_myhero_data.yml` (image name
//! replaced) applies unchanged and runs; bad documents are rejected with
//! file, document and field, atomically; an unpullable image waits in
//! ImagePullBackOff with the reason while other pods run.

mod common;

use std::time::Duration;

use common::*;
use ferry_runtime::Error;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

const SEED: &str = "/work/shared/fixtures/seed-myhero/k8s_myhero_data.yml";

fn seed() -> String {
    let text = std::fs::read_to_string(SEED)
        .unwrap_or_else(|_| include_str!("fixtures/k8s_myhero_data.yml").to_string());
    text.replace("juliocisco/myhero-data:latest", "web:v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_myhero_data_applies_unchanged_and_runs() {
    let env = env().await;
    let out = env
        .rt
        .apply(&[("k8s_myhero_data.yml".into(), seed())])
        .unwrap();
    let names: Vec<String> = out
        .iter()
        .map(|o| format!("{} {}", o.object, o.action))
        .collect();
    assert_eq!(
        names,
        [
            "service/myhero-data created",
            "deployment.apps/myhero-data created"
        ]
    );
    let pod = wait("myhero-data pod running", Duration::from_secs(60), || {
        env.rt
            .list(Kind::Pod, Some("default"))
            .into_iter()
            .find(|p| {
                p.pointer("/status/containerStatuses/0/state/running")
                    .is_some()
            })
    })
    .await;
    // The memory limit (64M) reached the container's cgroup.
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap();
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/ferry/{uid}/myhero-data/memory.limit_in_bytes"
    ))
    .or_else(|_| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/ferry/{uid}/myhero-data/memory.max"))
    });
    if let Ok(limit) = limit {
        assert_eq!(limit.trim(), "64000000");
    }
    let svc = env.rt.get(Kind::Service, "default", "myhero-data").unwrap();
    let ip = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert!(ip.starts_with("127."), "{ip}");
    let again = env
        .rt
        .apply(&[("k8s_myhero_data.yml".into(), seed())])
        .unwrap();
    assert!(again.iter().all(|o| o.action == "unchanged"), "{again:?}");
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_documents_are_rejected_with_location_and_nothing_is_applied() {
    let env = env().await;
    let good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {a: b}\n";
    let cases = [
        (
            web("x", 1, "v1").replace(
                "selector: {matchLabels: {app: x}}",
                "selector: {matchLabels: {app: y}}",
            ),
            "document 1 (Deployment/x): field `spec.template.metadata.labels`",
        ),
        (
            web("x", 1, "v1").replace("  selector: {matchLabels: {app: x}}\n", ""),
            "field `spec.selector`: a selector is required",
        ),
        (
            web("x", 1, "v1").replace("containerPort: 8080", "containerPort: 99999"),
            "field `spec.template.spec.containers[0].ports[0].containerPort`",
        ),
        (
            web("x", 1, "v1").replace("ports: [{port: 80,", "ports: [{port: 0,"),
            "document 2 (Service/x): field `spec.ports[0].port`",
        ),
        (
            web("x", 1, "v1").replace(
                "image: web:v1",
                "image: web:v1\n        resources: {limits: {memory: 12XB}}",
            ),
            "field `spec.template.spec.containers[0].resources.limits.memory`",
        ),
        (
            "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g}\n".to_string(),
            "unknown kind `Gizmo`",
        ),
        (
            web("x", 1, "v1").replace(
                "terminationGracePeriodSeconds: 2",
                "terminationGracePeriodSecond: 2",
            ),
            "field `spec.template.spec.terminationGracePeriodSecond`: unknown field",
        ),
    ];
    for (bad, expect) in cases {
        let text = format!("{good}---\n{bad}");
        let err = env.rt.apply(&[("bad.yaml".into(), text)]).unwrap_err();
        let Error::Invalid(problems) = &err else {
            panic!("{err}")
        };
        let msg = problems.to_string();
        assert!(msg.contains("bad.yaml: document"), "{msg}");
        assert!(msg.contains(expect), "expected {expect:?} in:\n{msg}");
    }
    assert!(
        env.rt.list(Kind::ConfigMap, None).is_empty(),
        "nothing of a rejected apply is stored"
    );
    assert!(env.rt.list(Kind::Deployment, None).is_empty());
    env.rt.shutdown().await;
}

/// A binding's `roleRef` is immutable, as in Kubernetes: re-applying it
/// with another role is refused with file, document (zero-based, as every
/// problem counts them) and field, and the
/// whole apply (a ConfigMap beside it too) leaves nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bindings_role_cannot_be_swapped_under_its_subjects() {
    let env = env().await;
    let docs = |role: &str, greeting: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{greeting: {greeting}}}\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: app-view}}\n\
             subjects:\n- {{kind: ServiceAccount, name: app}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n"
        )
    };
    let apply = |text: String| env.rt.apply(&[("rbac.yaml".into(), text)]);
    apply(docs("view", "hello")).unwrap();
    // Subjects and other objects may change; the role may not.
    let err = apply(docs("admin", "changed")).unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let msg = problems.to_string();
    for expect in [
        "rbac.yaml: document 1 (RoleBinding/app-view)",
        "roleRef",
        "ClusterRole/view to ClusterRole/admin",
    ] {
        assert!(msg.contains(expect), "expected {expect:?} in:\n{msg}");
    }
    let stored = |kind, name: &str| {
        env.rt
            .list(kind, Some("default"))
            .into_iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .unwrap()
    };
    assert_eq!(stored(Kind::ConfigMap, "c")["data"]["greeting"], "hello");
    assert_eq!(
        stored(Kind::RoleBinding, "app-view")["roleRef"]["name"],
        "view"
    );
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpullable_image_waits_in_image_pull_back_off_while_others_run() {
    let env = env().await;
    apply(
        &env.rt,
        &format!(
            "{}---\n{}",
            web("good", 1, "v1"),
            web("bad", 1, "v1").replace("image: web:v1", "image: 127.0.0.1:9/none:v1")
        ),
    );
    let p = wait(
        "bad pod in ImagePullBackOff",
        Duration::from_secs(60),
        || {
            pods(&env.rt, "bad").into_iter().find(|p| {
                p.pointer("/status/containerStatuses/0/state/waiting/reason")
                    .and_then(Value::as_str)
                    == Some("ImagePullBackOff")
            })
        },
    )
    .await;
    let why = p
        .pointer("/status/containerStatuses/0/state/waiting/message")
        .and_then(Value::as_str)
        .unwrap();
    assert!(why.contains("127.0.0.1:9"), "{why}");
    wait("good pod ready", Duration::from_secs(60), || {
        pods(&env.rt, "good")
            .first()
            .filter(|p| ready(p))
            .map(|_| ())
    })
    .await;
    env.rt.shutdown().await;
}
