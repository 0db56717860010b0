//! The one seam between the sync engine and where objects run: [`Target`]
//! (apply a batch, list what carries a label, delete, health; with default
//! methods for what only some targets offer: an [`ApplyContext`], a
//! server-side dry run, the members of a fleet, a channel of changed
//! objects). The embedded runtime
//! and `ferry-kube`'s Kubernetes target implement it in production;
//! [`MemoryTarget`] keeps objects in a map for the engine's unit tests.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::health::{Health, object_health};
use crate::object::{LABEL_APP, LABEL_ENV, ObjKey, label};

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an application's objects are applied.
pub trait Target: Send + Sync + fmt::Debug {
    /// Applies every object or none (the target validates the whole batch
    /// first); objects come in apply order.
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, Result<()>>;

    /// Live objects whose `metadata.labels[key] == value` (any value when
    /// `value` is empty).
    fn list(&self, key: &str, value: &str) -> BoxFuture<'_, Result<Vec<StoredObject>>>;

    /// Deletes the objects (those already gone are ignored).
    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, Result<()>>;

    /// Health of one live object (defaults to the status rules).
    fn health(&self, live: Option<&Value>) -> Health {
        object_health(live)
    }

    /// Applies a batch knowing which app and environment it belongs to
    /// (targets that keep an inventory per app, or take fields over on
    /// `force`, need it). Defaults to [`Target::apply`].
    fn apply_in(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        let _ = ctx;
        let copy = objects.clone();
        let fut = self.apply(objects);
        Box::pin(async move { fut.await.map(|()| copy) })
    }

    /// The objects as the target would store them if applied now, without
    /// changing anything (a server-side dry run, for `ferry app diff`).
    /// Targets without one return the objects unchanged.
    fn dry_run(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        let _ = ctx;
        Box::pin(async move { Ok(objects) })
    }

    /// Whether the target serves `gk` namespaced, when it knows (a cluster's
    /// discovery); `None`: it does not say, render's built-in list decides.
    fn namespaced(&self, gk: &ferry_core::objects::GroupKind) -> Option<bool> {
        let _ = gk;
        None
    }

    /// The target's nodes pull images from the registry themselves (a
    /// Kubernetes cluster), so an app's objects need an image pull Secret
    /// when the registry wants a login ([`crate::pull_access`]). The
    /// embedded runtime pulls in-process: false.
    fn pulls_images_itself(&self) -> bool {
        false
    }

    /// Whether [`Target::dry_run`] answers with whole objects as the
    /// target would store them (defaults, admission and field ownership
    /// included), so a diff may also report fields only live has.
    fn dry_run_is_server_side(&self) -> bool {
        false
    }

    /// The targets a fan-out target delivers to, by cluster name (a fleet
    /// picked by `clusterSelector`); empty for a target that is one place.
    fn members(&self) -> Vec<(String, Arc<dyn Target>)> {
        Vec::new()
    }

    /// Keys of live objects that changed on the target (drift, deletions),
    /// when the target watches rather than being polled. `None`: poll.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<ObjKey>> {
        None
    }
}

/// Calls `on_change` for every change a watching target reports (and once
/// per lag, when changes were missed) until it returns false or the target
/// goes away. No-op for targets that are polled, or outside a runtime.
pub fn forward_changes(target: &dyn Target, on_change: impl Fn() -> bool + Send + 'static) {
    use tokio::sync::broadcast::error::RecvError;
    let (Some(mut changes), Ok(rt)) = (target.changes(), tokio::runtime::Handle::try_current())
    else {
        return;
    };
    rt.spawn(async move {
        while let Ok(_) | Err(RecvError::Lagged(_)) = changes.recv().await {
            if !on_change() {
                return;
            }
        }
    });
}

/// `desired` with the namespace taken off objects whose kind `target`
/// serves cluster-scoped (custom kinds [`crate::object::cluster_scoped`]
/// does not know, to which render gave the environment's namespace), so
/// their keys match the live objects'. Shared, not copied, when nothing
/// changes.
pub fn with_target_scopes(
    target: &dyn Target,
    desired: Arc<Vec<StoredObject>>,
) -> Arc<Vec<StoredObject>> {
    let wrong =
        |o: &StoredObject| o.namespace.is_some() && target.namespaced(&o.group_kind) == Some(false);
    if !desired.iter().any(wrong) {
        return desired;
    }
    let fixed = desired
        .iter()
        .map(|o| {
            let mut o = o.clone();
            if wrong(&o) {
                o.namespace = None;
                if let Some(meta) = o.value.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("namespace");
                }
            }
            o
        })
        .collect();
    Arc::new(fixed)
}

/// Which application and environment a batch is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyContext {
    pub app: String,
    pub environment: String,
    /// The environment's namespace.
    pub namespace: String,
    /// Take over fields other field managers own (server-side apply force).
    pub force: bool,
}

impl ApplyContext {
    /// Reads the context from a rendered batch: ferry's app and environment
    /// labels, and the namespace most namespaced objects are in (render
    /// puts the environment's there). `None` for an unlabelled batch.
    pub fn of_batch(objects: &[StoredObject]) -> Option<Self> {
        let first = objects.first()?;
        let app = label(&first.value, LABEL_APP)?.to_string();
        let environment = label(&first.value, LABEL_ENV)?.to_string();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for ns in objects.iter().filter_map(|o| o.namespace.as_deref()) {
            *counts.entry(ns).or_default() += 1;
        }
        let namespace = counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map_or_else(|| "default".to_string(), |(ns, _)| ns.to_string());
        Some(Self {
            app,
            environment,
            namespace,
            force: false,
        })
    }
}

/// An in-memory target. Objects "become ready" at once unless told to stay
/// progressing; applies can be made to fail, to test the engine.
#[derive(Debug, Clone, Default)]
pub struct MemoryTarget {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: BTreeMap<ObjKey, StoredObject>,
    fail_apply: Option<String>,
    unreachable: bool,
    applies: usize,
    applied: Vec<ObjKey>,
}

impl MemoryTarget {
    /// An empty target.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later apply fail with `message` (None: succeed again).
    pub fn fail_applies(&self, message: Option<&str>) {
        self.inner.lock_or_recover().fail_apply = message.map(str::to_string);
    }

    /// Makes every later apply, list and delete fail as an unreachable
    /// target does (`false`: answer again).
    pub fn set_unreachable(&self, unreachable: bool) {
        self.inner.lock_or_recover().unreachable = unreachable;
    }

    /// How many apply batches succeeded.
    pub fn applies(&self) -> usize {
        self.inner.lock_or_recover().applies
    }

    /// Every object applied so far, in order (one entry per apply of it).
    pub fn applied(&self) -> Vec<ObjKey> {
        self.inner.lock_or_recover().applied.clone()
    }

    /// The live object under `key`.
    pub fn get(&self, key: &ObjKey) -> Option<StoredObject> {
        self.inner.lock_or_recover().objects.get(key).cloned()
    }

    /// Every live object.
    pub fn all(&self) -> Vec<StoredObject> {
        self.inner
            .lock_or_recover()
            .objects
            .values()
            .cloned()
            .collect()
    }

    /// Changes a live object by hand (drift), or creates one ferry did not.
    pub fn put(&self, o: StoredObject) {
        self.inner
            .lock_or_recover()
            .objects
            .insert(ObjKey::of(&o), o);
    }
}

fn with_status(mut o: StoredObject) -> StoredObject {
    if matches!(o.group_kind.kind.as_str(), "Deployment" | "StatefulSet") {
        let replicas = o
            .value
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        o.value["status"] = serde_json::json!({"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas});
    }
    o
}

fn unreachable() -> Error {
    Error::Unreachable("memory target: connection refused".into())
}

impl Target for MemoryTarget {
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.inner.lock_or_recover();
        let result = match &inner.fail_apply {
            _ if inner.unreachable => Err(unreachable()),
            Some(m) => Err(Error::Target(m.clone())),
            None => {
                for o in objects {
                    inner.applied.push(ObjKey::of(&o));
                    inner.objects.insert(ObjKey::of(&o), with_status(o));
                }
                inner.applies += 1;
                Ok(())
            }
        };
        Box::pin(async move { result })
    }

    fn list(&self, key: &str, value: &str) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        let inner = self.inner.lock_or_recover();
        if inner.unreachable {
            return Box::pin(async move { Err(unreachable()) });
        }
        let out = inner
            .objects
            .values()
            .filter(|o| label(&o.value, key).is_some_and(|v| value.is_empty() || v == value))
            .cloned()
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.inner.lock_or_recover();
        if inner.unreachable {
            return Box::pin(async move { Err(unreachable()) });
        }
        for k in keys {
            inner.objects.remove(&k);
        }
        Box::pin(async move { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::set_label;
    use ferry_core::objects::GroupKind;

    fn obj(kind: &str, ns: Option<&str>) -> StoredObject {
        let mut value = serde_json::json!({"kind": kind, "metadata": {"name": "x"}});
        set_label(&mut value, LABEL_APP, "web");
        set_label(&mut value, LABEL_ENV, "dev");
        StoredObject {
            group_kind: GroupKind::new("", kind),
            namespace: ns.map(str::to_string),
            name: "x".into(),
            source: String::new(),
            value,
        }
    }

    #[test]
    fn the_context_comes_from_labels_and_the_usual_namespace() {
        let batch = [
            obj("Namespace", None),
            obj("ConfigMap", Some("web-dev")),
            obj("Secret", Some("web-dev")),
            obj("Service", Some("elsewhere")),
        ];
        let ctx = ApplyContext::of_batch(&batch).unwrap();
        assert_eq!((ctx.app.as_str(), ctx.environment.as_str()), ("web", "dev"));
        assert_eq!(ctx.namespace, "web-dev");
        assert!(!ctx.force);
        let mut bare = obj("ConfigMap", Some("x"));
        bare.value = serde_json::json!({});
        assert_eq!(ApplyContext::of_batch(&[bare]), None);
        assert_eq!(ApplyContext::of_batch(&[]), None);
    }
}
