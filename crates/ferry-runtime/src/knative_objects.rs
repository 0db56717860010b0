//! What a Knative Revision is made of, built pure from its Service: the
//! `Revision` object (the template frozen, Knative's labels, owned by the
//! Service), its Deployment `<revision>-deployment` (pods labelled as
//! Knative labels them, the serving container's port named `user-port`
//! with `PORT` in its environment) and its Service `<revision>` (port 80 to
//! that port), which the gateway's routes and activator address.

use serde_json::{Value, json};

use crate::knative_spec::{
    DEFAULT_PORT, GROUP, KService, LABEL_CONFIGURATION, LABEL_CONFIGURATION_GENERATION,
    LABEL_REVISION, LABEL_REVISION_UID, LABEL_SERVICE, TEMPLATE_HASH,
};

/// Identity of a Revision being built.
#[derive(Debug, Clone)]
pub struct RevisionId<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub generation: i64,
}

/// The Revision object for `svc`'s current template.
pub fn revision(
    svc: &KService,
    svc_uid: &str,
    id: &RevisionId<'_>,
    hash: &str,
    now: &str,
) -> Value {
    let service = svc.metadata.name.clone().unwrap_or_default();
    let tpl = &svc.spec.template;
    let mut labels = json!(tpl.metadata.labels.clone().unwrap_or_default());
    labels[LABEL_SERVICE] = json!(service);
    labels[LABEL_CONFIGURATION] = json!(service);
    labels[LABEL_CONFIGURATION_GENERATION] = json!(id.generation.to_string());
    let mut annotations = json!(tpl.metadata.annotations.clone().unwrap_or_default());
    annotations[TEMPLATE_HASH] = json!(hash);
    let mut spec = serde_json::to_value(&tpl.spec).unwrap_or(json!({}));
    spec["containerConcurrency"] = json!(tpl.spec.container_concurrency.unwrap_or(0));
    spec["timeoutSeconds"] = json!(tpl.spec.timeout_seconds.unwrap_or(300));
    json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Revision",
        "metadata": {
            "name": id.name, "namespace": id.namespace, "uid": id.uid,
            "creationTimestamp": now, "generation": 1,
            "labels": labels, "annotations": annotations,
            "ownerReferences": [{"apiVersion": format!("{GROUP}/v1"), "kind": "Service",
                "name": service, "uid": svc_uid, "controller": true}],
        },
        "spec": spec,
    })
}

/// The labels every pod and object of a Revision carries.
fn revision_labels(rev: &Value) -> Value {
    let mut labels = rev
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let name = rev.pointer("/metadata/name").cloned().unwrap_or_default();
    labels[LABEL_REVISION] = name.clone();
    labels[LABEL_REVISION_UID] = rev.pointer("/metadata/uid").cloned().unwrap_or_default();
    labels["app"] = name;
    labels
}

fn owner(rev: &Value) -> Value {
    json!([{"apiVersion": format!("{GROUP}/v1"), "kind": "Revision",
        "name": rev["metadata"]["name"], "uid": rev["metadata"]["uid"], "controller": true}])
}

/// The container port the Revision serves on.
pub fn port(rev: &Value) -> i64 {
    let containers = rev.pointer("/spec/containers").and_then(Value::as_array);
    containers
        .into_iter()
        .flatten()
        .find_map(|c| c.pointer("/ports/0/containerPort")?.as_i64())
        .unwrap_or(i64::from(DEFAULT_PORT))
}

/// The pod spec: Knative's fields removed, the serving container's port
/// named `user-port` and `PORT` set.
fn pod_spec(rev: &Value) -> Value {
    let mut spec = rev["spec"].clone();
    if let Some(o) = spec.as_object_mut() {
        o.remove("containerConcurrency");
        o.remove("timeoutSeconds");
    }
    let port = port(rev);
    let Some(containers) = spec["containers"].as_array_mut() else {
        return spec;
    };
    let serving = containers
        .iter()
        .position(|c| c.pointer("/ports/0").is_some())
        .unwrap_or(0);
    for (i, c) in containers.iter_mut().enumerate() {
        if c.get("name").is_none() {
            c["name"] = json!(crate::knative_spec::container_name(i, serving));
        }
    }
    let c = &mut containers[serving];
    c["ports"] = json!([{"name": "user-port", "containerPort": port, "protocol": "TCP"}]);
    let env = c["env"].as_array().cloned().unwrap_or_default();
    if !env.iter().any(|e| e["name"] == "PORT") {
        let mut env = env;
        env.push(json!({"name": "PORT", "value": port.to_string()}));
        c["env"] = json!(env);
    }
    spec
}

/// The Revision's Deployment with `replicas` pods.
pub fn deployment(rev: &Value, replicas: u32, uid: &str, now: &str) -> Value {
    let name = rev["metadata"]["name"].as_str().unwrap_or_default();
    let labels = revision_labels(rev);
    let mut template_meta = json!({"labels": labels});
    if let Some(a) = rev.pointer("/metadata/annotations") {
        template_meta["annotations"] = a.clone();
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": format!("{name}-deployment"), "namespace": rev["metadata"]["namespace"],
            "uid": uid, "creationTimestamp": now, "generation": 1,
            "labels": labels, "ownerReferences": owner(rev),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {LABEL_REVISION_UID: rev["metadata"]["uid"]}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {"metadata": template_meta, "spec": pod_spec(rev)},
        },
    })
}

/// The Revision's Service: port 80 (`http`) to its pods' serving port.
pub fn service(rev: &Value, uid: &str, now: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": rev["metadata"]["name"], "namespace": rev["metadata"]["namespace"],
            "uid": uid, "creationTimestamp": now,
            "labels": revision_labels(rev), "ownerReferences": owner(rev),
        },
        "spec": {
            "selector": {LABEL_REVISION_UID: rev["metadata"]["uid"]},
            "ports": [{"name": "http", "port": 80, "targetPort": port(rev), "protocol": "TCP"}],
        },
    })
}
