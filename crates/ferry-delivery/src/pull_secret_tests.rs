//! The pull Secret's pure parts: repositories, the dockerconfigjson, pod
//! templates of every kind patched without losing the user's entries.

use super::*;
use ferry_core::objects::GroupKind;

const REG: &str = "127.0.0.1:5000";

fn obj(api: &str, kind: &str, ns: &str, value: Value) -> StoredObject {
    let mut value = value;
    value["apiVersion"] = json!(api);
    value["kind"] = json!(kind);
    value["metadata"]["name"] = json!("x");
    value["metadata"]["namespace"] = json!(ns);
    StoredObject {
        group_kind: GroupKind::of(api, kind),
        namespace: Some(ns.to_string()),
        name: "x".into(),
        source: format!("{kind}.yaml: document 0"),
        value,
    }
}

fn pod_spec(image: &str) -> Value {
    json!({"containers": [{"name": "c", "image": image}]})
}

fn login() -> RegistryLogin {
    RegistryLogin {
        username: "robot$ferry-pull.web.dev".into(),
        password: "s3cret".into(),
    }
}

const TO: PullSecretFor<'static> = PullSecretFor {
    app: "web",
    environment: "dev",
    registry: REG,
};

#[test]
fn repositories_are_those_of_the_region_registry_only() {
    let objs = [
        obj(
            "v1",
            "Pod",
            "a",
            json!({"spec": {
                "containers": [{"name": "a", "image": format!("{REG}/team/web:v1")}],
                "initContainers": [{"name": "i", "image": format!("{REG}/team/init@sha256:abc")}],
            }}),
        ),
        obj(
            "apps/v1",
            "Deployment",
            "a",
            json!({"spec": {"template": {"spec": pod_spec("docker.io/library/busybox:1")}}}),
        ),
        obj(
            "batch/v1",
            "CronJob",
            "a",
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec(&format!("{REG}/team/job"))}}}}}),
        ),
        obj(
            "apps/v1",
            "Deployment",
            "a",
            json!({"spec": {"template": {"spec": pod_spec("127.0.0.1:5001/team/other:1")}}}),
        ),
    ];
    let repos: Vec<String> = repositories(&objs, REG).into_iter().collect();
    assert_eq!(repos, ["team/init", "team/job", "team/web"]);
}

#[test]
fn every_pod_template_kind_names_the_secret_and_keeps_the_users_entries() {
    let tpl = json!({"template": {"spec": pod_spec("i")}});
    let mut objs = vec![
        obj(
            "v1",
            "Pod",
            "a",
            json!({"spec": {"containers": [], "imagePullSecrets": [{"name": "mine"}]}}),
        ),
        obj("apps/v1", "Deployment", "a", json!({"spec": tpl})),
        obj("apps/v1", "StatefulSet", "a", json!({"spec": tpl})),
        obj("apps/v1", "DaemonSet", "a", json!({"spec": tpl})),
        obj("apps/v1", "ReplicaSet", "a", json!({"spec": tpl})),
        obj("batch/v1", "Job", "a", json!({"spec": tpl})),
        obj(
            "batch/v1",
            "CronJob",
            "a",
            json!({"spec": {"jobTemplate": {"spec": tpl}}}),
        ),
    ];
    for o in &mut objs {
        assert!(add_to_pod_template(o, "ferry-pull-web"), "{}", o.group_kind);
        // Twice: still one entry.
        assert!(add_to_pod_template(o, "ferry-pull-web"));
    }
    let names = |o: &StoredObject, path: &str| -> Vec<String> {
        o.value
            .pointer(&format!("{path}/imagePullSecrets"))
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&objs[0], "/spec"), ["mine", "ferry-pull-web"]);
    for o in &objs[1..6] {
        assert_eq!(
            names(o, "/spec/template/spec"),
            ["ferry-pull-web"],
            "{}",
            o.group_kind
        );
    }
    assert_eq!(
        names(&objs[6], "/spec/jobTemplate/spec/template/spec"),
        ["ferry-pull-web"]
    );

    // Kinds without pods, and look-alikes of other groups, are left alone.
    let mut cm = obj("v1", "ConfigMap", "a", json!({"data": {}}));
    let mut cr = obj("example.com/v1", "Deployment", "a", json!({"spec": tpl}));
    assert!(!add_to_pod_template(&mut cm, "ferry-pull-web"));
    assert!(!add_to_pod_template(&mut cr, "ferry-pull-web"));
    assert!(
        cr.value
            .pointer("/spec/template/spec/imagePullSecrets")
            .is_none()
    );
}

#[test]
fn the_docker_config_holds_the_login_for_the_registry() {
    let config: Value = serde_json::from_str(&docker_config(REG, &login())).unwrap();
    let entry = &config["auths"][REG];
    assert_eq!(entry["username"], "robot$ferry-pull.web.dev");
    assert_eq!(entry["password"], "s3cret");
    let auth = B64.decode(entry["auth"].as_str().unwrap()).unwrap();
    assert_eq!(auth, b"robot$ferry-pull.web.dev:s3cret");
    assert!(
        !format!("{:?}", login()).contains("s3cret"),
        "Debug hides it"
    );
}

#[test]
fn one_secret_per_namespace_with_pods_in_their_earliest_wave_and_in_apply_order() {
    let mut early = obj(
        "apps/v1",
        "Deployment",
        "a",
        json!({"spec": {"template": {"spec": pod_spec("i")}}}),
    );
    early.name = "early".into();
    early.value["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "-1"});
    let objs = vec![
        obj("v1", "ConfigMap", "a", json!({})),
        early,
        obj(
            "apps/v1",
            "Deployment",
            "a",
            json!({"spec": {"template": {"spec": pod_spec("i")}}}),
        ),
        obj(
            "batch/v1",
            "Job",
            "b",
            json!({"spec": {"template": {"spec": pod_spec("i")}}}),
        ),
        obj("v1", "Service", "c", json!({})),
    ];
    let out = with_pull_secret(&objs, &TO, &login()).unwrap();
    let secrets: Vec<&StoredObject> = out
        .iter()
        .filter(|o| o.group_kind.kind == "Secret")
        .collect();
    let where_: Vec<(Option<&str>, i32)> = secrets
        .iter()
        .map(|s| (s.namespace.as_deref(), wave(&s.value).unwrap()))
        .collect();
    assert_eq!(
        where_,
        [(Some("a"), -1), (Some("b"), 0)],
        "none in c: no pods there"
    );
    let s = secrets[0];
    assert_eq!(s.name, "ferry-pull-web");
    assert_eq!(s.value["type"], SECRET_TYPE);
    assert_eq!(s.value["metadata"]["labels"][LABEL_APP], "web");
    assert_eq!(s.value["metadata"]["labels"][LABEL_ENV], "dev");
    let config = B64
        .decode(s.value["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(config).unwrap(),
        docker_config(REG, &login())
    );
    // Each Secret comes before the first pod template of its namespace.
    let pos = |kind: &str, ns: &str| {
        out.iter()
            .position(|o| o.group_kind.kind == kind && o.namespace.as_deref() == Some(ns))
            .unwrap()
    };
    assert!(pos("Secret", "a") < pos("Deployment", "a"));
    assert!(pos("Secret", "b") < pos("Job", "b"));
    assert_eq!(out.len(), objs.len() + 2);
}

#[test]
fn an_object_of_the_app_with_the_secrets_name_is_an_error_naming_it() {
    let mut mine = obj("v1", "Secret", "a", json!({}));
    mine.name = "ferry-pull-web".into();
    let objs = vec![mine, obj("v1", "Pod", "a", json!({"spec": pod_spec("i")}))];
    let e = with_pull_secret(&objs, &TO, &login())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Secret.yaml: document 0") && e.contains("rename it"),
        "{e}"
    );
}
