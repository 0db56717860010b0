//! [`Target`] over the embedded runtime (`ferry-runtime`): apply goes
//! through the runtime's strict, all-or-nothing apply (kind owners such as
//! the gateway validate their kinds in the same step); list reads the
//! built-in kinds with their live status. Kinds owned by other components
//! cannot be listed through the runtime's API, so the adapter reports the
//! last applied copy of those (drift of routing objects is not detected).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use ferry_runtime::Runtime;
use ferry_runtime::kinds::Kind;

use crate::error::{Error, Result};
use crate::object::{ObjKey, label};
use crate::target::{BoxFuture, Target};

/// The runtime of one region as a sync target.
#[derive(Debug, Clone)]
pub struct RuntimeTarget {
    rt: Runtime,
    owned: Arc<Mutex<BTreeMap<ObjKey, StoredObject>>>,
}

impl RuntimeTarget {
    /// Wraps a running runtime.
    pub fn new(rt: Runtime) -> Self {
        Self {
            rt,
            owned: Arc::default(),
        }
    }
}

fn to_error(e: ferry_runtime::Error) -> Error {
    Error::Target(e.to_string())
}

impl Target for RuntimeTarget {
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, Result<()>> {
        let rt = self.rt.clone();
        let owned = self.owned.clone();
        Box::pin(async move {
            let mut sources: Vec<(String, String)> = Vec::new();
            // The environment's namespace is created when missing (as Argo
            // CD's CreateNamespace does), unlabelled: never pruned.
            let mut missing: Vec<&str> = objects
                .iter()
                .filter_map(|o| o.namespace.as_deref())
                .filter(|ns| {
                    !objects
                        .iter()
                        .any(|o| o.group_kind.kind == "Namespace" && o.name == *ns)
                })
                .filter(|ns| rt.get(Kind::Namespace, "", ns).is_err())
                .collect();
            missing.sort_unstable();
            missing.dedup();
            for ns in missing {
                let doc = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                sources.push(("<environment namespace>".into(), doc.to_string()));
            }
            sources.extend(
                objects
                    .iter()
                    .map(|o| (o.source.clone(), o.value.to_string())),
            );
            tokio::task::spawn_blocking(move || rt.apply(&sources))
                .await
                .map_err(|e| Error::Target(e.to_string()))?
                .map_err(to_error)?;
            let mut owned = owned.lock_or_recover();
            for o in objects
                .into_iter()
                .filter(|o| Kind::from_group_kind(&o.group_kind).is_none())
            {
                owned.insert(ObjKey::of(&o), o);
            }
            Ok(())
        })
    }

    fn list(&self, key: &str, value: &str) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        let rt = self.rt.clone();
        let owned: Vec<StoredObject> = self.owned.lock_or_recover().values().cloned().collect();
        let (key, value) = (key.to_string(), value.to_string());
        Box::pin(async move {
            let wanted = |v: &serde_json::Value| {
                label(v, &key).is_some_and(|l| value.is_empty() || l == value)
            };
            let mut out = Vec::new();
            // Every kind an app applies (ServiceAccounts and RBAC too);
            // ReplicaSets and Pods are the runtime's own.
            let applied = Kind::ALL
                .into_iter()
                .filter(|k| !matches!(k, Kind::ReplicaSet | Kind::Pod));
            for kind in applied {
                for v in rt.list(kind, None) {
                    if !wanted(&v) {
                        continue;
                    }
                    let Some(k) = ObjKey::of_value(&v) else {
                        continue;
                    };
                    out.push(StoredObject {
                        group_kind: k.group_kind,
                        namespace: k.namespace,
                        name: k.name,
                        source: String::new(),
                        value: v,
                    });
                }
            }
            out.extend(owned.into_iter().filter(|o| wanted(&o.value)));
            Ok(out)
        })
    }

    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, Result<()>> {
        let rt = self.rt.clone();
        let owned = self.owned.clone();
        Box::pin(async move {
            for k in keys {
                match Kind::from_group_kind(&k.group_kind) {
                    Some(kind) => {
                        match rt.delete(kind, k.namespace.as_deref().unwrap_or(""), &k.name) {
                            Ok(()) | Err(ferry_runtime::Error::NotFound { .. }) => {}
                            Err(e) => return Err(to_error(e)),
                        }
                    }
                    None => {
                        owned.lock_or_recover().remove(&k);
                        tracing::warn!(object = %k, "the runtime offers no delete for this kind; left in place");
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::objects::GroupKind;
    use serde_json::json;

    fn object(kind: &str, group: &str, api: &str, name: &str) -> StoredObject {
        StoredObject {
            group_kind: GroupKind::new(group, kind),
            namespace: Some("default".into()),
            name: name.into(),
            source: format!("{name}.yaml"),
            value: json!({"apiVersion": api, "kind": kind,
                "metadata": {"name": name, "namespace": "default", "labels": {"app.ferry.dev/name": "shop"}}}),
        }
    }

    /// A chart's ServiceAccount and RBAC are applied and listed back, so
    /// the engine sees them in sync (before, list left them out).
    #[tokio::test]
    async fn service_accounts_and_rbac_are_listed_back() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::start(ferry_runtime::RuntimeConfig::new(dir.path()))
            .await
            .unwrap();
        let target = RuntimeTarget::new(rt.clone());
        let mut role = object(
            "Role",
            "rbac.authorization.k8s.io",
            "rbac.authorization.k8s.io/v1",
            "reader",
        );
        role.value["rules"] = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]);
        let sa = object("ServiceAccount", "", "v1", "shop");
        target.apply(vec![sa, role]).await.unwrap();
        let listed = target.list("app.ferry.dev/name", "shop").await.unwrap();
        let mut kinds: Vec<&str> = listed.iter().map(|o| o.group_kind.kind.as_str()).collect();
        kinds.sort();
        assert_eq!(kinds, ["Role", "ServiceAccount"]);
        rt.shutdown().await;
    }
}
