//! The one seam between the sync engine and where objects run: [`Target`]
//! (apply a batch, list what carries a label, delete, health). The embedded
//! runtime implements it in production; [`MemoryTarget`] keeps objects in a
//! map for the engine's unit tests.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use ferry_core::objects::StoredObject;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::health::{Health, object_health};
use crate::object::{ObjKey, label};

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
        self.inner.lock().expect("lock").fail_apply = message.map(str::to_string);
    }

    /// How many apply batches succeeded.
    pub fn applies(&self) -> usize {
        self.inner.lock().expect("lock").applies
    }

    /// Every object applied so far, in order (one entry per apply of it).
    pub fn applied(&self) -> Vec<ObjKey> {
        self.inner.lock().expect("lock").applied.clone()
    }

    /// The live object under `key`.
    pub fn get(&self, key: &ObjKey) -> Option<StoredObject> {
        self.inner.lock().expect("lock").objects.get(key).cloned()
    }

    /// Every live object.
    pub fn all(&self) -> Vec<StoredObject> {
        self.inner
            .lock()
            .expect("lock")
            .objects
            .values()
            .cloned()
            .collect()
    }

    /// Changes a live object by hand (drift), or creates one ferry did not.
    pub fn put(&self, o: StoredObject) {
        self.inner
            .lock()
            .expect("lock")
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

impl Target for MemoryTarget {
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.inner.lock().expect("lock");
        let result = match &inner.fail_apply {
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
        let inner = self.inner.lock().expect("lock");
        let out = inner
            .objects
            .values()
            .filter(|o| label(&o.value, key).is_some_and(|v| value.is_empty() || v == value))
            .cloned()
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.inner.lock().expect("lock");
        for k in keys {
            inner.objects.remove(&k);
        }
        Box::pin(async move { Ok(()) })
    }
}
