//! The image pull Secret of an application on a Kubernetes target, pure:
//! which repositories of the region's registry the rendered objects pull
//! from ([`repositories`]), the `kubernetes.io/dockerconfigjson` Secret
//! holding the login for them ([`secret`], named `ferry-pull-<app>`, one
//! in each namespace that runs pods), and every pod template's
//! `imagePullSecrets` naming it next to the user's own entries
//! ([`add_to_pod_template`]). [`with_pull_secret`] does all three to a
//! rendered batch. The Secret carries ferry's labels like every rendered
//! object, so it is in the app's inventory (the ApplySet on a cluster) and
//! pruned with the app. The login comes from [`crate::pull_access`].

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_core::objects::{GroupKind, StoredObject};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::object::{LABEL_APP, LABEL_ENV, ObjKey, set_annotation, set_label};
use crate::order::{sort_for_apply, wave};
use crate::render::{images_of, split_image};

/// The Secret's type.
pub const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";

/// A registry login. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The Secret's name for application `app`.
pub fn secret_name(app: &str) -> String {
    format!("ferry-pull-{app}")
}

/// Repositories of `registry` (`host:port`) the objects' containers pull.
pub fn repositories(objects: &[StoredObject], registry: &str) -> BTreeSet<String> {
    let prefix = format!("{registry}/");
    objects
        .iter()
        .flat_map(|o| images_of(&o.value))
        .filter_map(|image| {
            let (name, _, _) = split_image(&image);
            name.strip_prefix(&prefix).map(str::to_string)
        })
        .collect()
}

/// Where a kind keeps its pod template's spec (`None`: no pods).
fn pod_spec_path(gk: &GroupKind) -> Option<&'static str> {
    match (gk.group.as_str(), gk.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Adds `{name}` to the `imagePullSecrets` of the object's pod template,
/// keeping the entries already there (and not adding it twice). False
/// when the object has no pod template.
pub fn add_to_pod_template(o: &mut StoredObject, name: &str) -> bool {
    let Some(path) = pod_spec_path(&o.group_kind) else {
        return false;
    };
    let Some(spec) = o.value.pointer_mut(path).and_then(Value::as_object_mut) else {
        return false;
    };
    let list = spec
        .entry("imagePullSecrets")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let entries = list.as_array_mut().expect("made an array above");
    if !entries.iter().any(|e| e["name"] == name) {
        entries.push(json!({ "name": name }));
    }
    true
}

/// `.dockerconfigjson`: the login for `registry`, as kubelet reads it.
pub fn docker_config(registry: &str, login: &RegistryLogin) -> String {
    let auth = B64.encode(format!("{}:{}", login.username, login.password));
    json!({"auths": {registry: {
        "username": login.username,
        "password": login.password,
        "auth": auth,
    }}})
    .to_string()
}

/// Who the Secret is for and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct PullSecretFor<'a> {
    pub app: &'a str,
    pub environment: &'a str,
    /// `host:port` of the region's registry.
    pub registry: &'a str,
}

/// The pull Secret in `namespace`, applied in sync wave `wave`.
pub fn secret(
    to: &PullSecretFor<'_>,
    namespace: &str,
    wave: i32,
    login: &RegistryLogin,
) -> StoredObject {
    let name = secret_name(to.app);
    let config = docker_config(to.registry, login);
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": SECRET_TYPE,
        "data": {".dockerconfigjson": B64.encode(config)},
    });
    set_label(&mut value, LABEL_APP, to.app);
    set_label(&mut value, LABEL_ENV, to.environment);
    set_label(&mut value, "app.kubernetes.io/managed-by", "ferry");
    if wave != 0 {
        set_annotation(&mut value, "ferry.dev/sync-wave", &wave.to_string());
    }
    StoredObject {
        group_kind: GroupKind::new("", "Secret"),
        namespace: Some(namespace.to_string()),
        name,
        source: format!("ferry: image pull Secret for {}", to.registry),
        value,
    }
}

/// `objects` with every pod template naming the pull Secret and the Secret
/// itself in each namespace that has one, in the earliest sync wave of
/// those templates, in apply order. An object of the app's own with the
/// Secret's name is an error naming it.
pub fn with_pull_secret(
    objects: &[StoredObject],
    to: &PullSecretFor<'_>,
    login: &RegistryLogin,
) -> Result<Vec<StoredObject>> {
    let name = secret_name(to.app);
    let mut out = objects.to_vec();
    // The earliest wave of a pod template, per namespace.
    let mut namespaces: BTreeMap<String, i32> = BTreeMap::new();
    for o in &mut out {
        if add_to_pod_template(o, &name) {
            let ns = o.namespace.clone().unwrap_or_else(|| "default".into());
            let w = wave(&o.value).unwrap_or(0);
            let e = namespaces.entry(ns).or_insert(w);
            *e = (*e).min(w);
        }
    }
    for (ns, w) in namespaces {
        let s = secret(to, &ns, w, login);
        if let Some(mine) = objects.iter().find(|o| ObjKey::of(o) == ObjKey::of(&s)) {
            return Err(Error::PullSecret {
                registry: to.registry.to_string(),
                message: format!(
                    "{} ({}) has the name ferry gives the image pull Secret; rename it",
                    ObjKey::of(mine),
                    mine.source
                ),
            });
        }
        out.push(s);
    }
    sort_for_apply(&mut out);
    Ok(out)
}

#[cfg(test)]
#[path = "pull_secret_tests.rs"]
mod tests;
