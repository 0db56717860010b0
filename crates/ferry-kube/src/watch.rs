//! Drift from watches, not polling: one kube-rs `watcher` per kind per
//! cluster, shared by every application, over the objects ferry labelled.
//! The watcher resumes from the last resourceVersion after a disconnect and
//! relists after `410 Gone`; after a relist, only objects whose
//! resourceVersion changed (or that vanished) are reported. Changed keys go
//! to a `broadcast` channel the engine subscribes to.

use ferry_core::sync::MutexExt;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ferry_core::objects::GroupKind;
use ferry_delivery::object::{LABEL_APP, ObjKey};
use futures_util::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::discovery::Served;

/// How many changed keys a slow subscriber may fall behind by before it
/// sees `Lagged` (and should then re-reconcile everything).
const CHANNEL: usize = 4096;

/// The watches of one cluster.
pub struct Watches {
    client: Client,
    tx: broadcast::Sender<ObjKey>,
    running: Mutex<HashMap<GroupKind, AbortHandle>>,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches")
            .field("kinds", &self.kinds())
            .finish_non_exhaustive()
    }
}

impl Watches {
    /// No watch yet; kinds are added as ferry applies or lists them.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            tx: broadcast::channel(CHANNEL).0,
            running: Mutex::default(),
        }
    }

    /// A receiver of changed object keys.
    pub fn subscribe(&self) -> broadcast::Receiver<ObjKey> {
        self.tx.subscribe()
    }

    /// Kinds being watched.
    pub fn kinds(&self) -> Vec<GroupKind> {
        self.running.lock_or_recover().keys().cloned().collect()
    }

    /// Starts the watch of `gk` unless it runs (needs a tokio runtime).
    pub fn ensure(&self, gk: GroupKind, served: Served) {
        let mut running = self.running.lock_or_recover();
        if running.contains_key(&gk) {
            return;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &served.resource);
        let task = tokio::spawn(watch_kind(api, gk.clone(), self.tx.clone()));
        running.insert(gk, task.abort_handle());
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in self.running.lock_or_recover().values() {
            task.abort();
        }
    }
}

fn key_of(gk: &GroupKind, o: &DynamicObject) -> ObjKey {
    ObjKey {
        group_kind: gk.clone(),
        namespace: o.metadata.namespace.clone(),
        name: o.metadata.name.clone().unwrap_or_default(),
    }
}

/// What the watch of one kind remembers: each object's resourceVersion,
/// to tell a relist's unchanged objects from changed ones.
#[derive(Debug, Default)]
struct Seen {
    versions: HashMap<ObjKey, String>,
    relisted: HashSet<ObjKey>,
    first_list_done: bool,
}

impl Seen {
    /// The keys this event reports as changed.
    fn on(&mut self, gk: &GroupKind, event: Event<DynamicObject>) -> Vec<ObjKey> {
        match event {
            Event::Apply(o) => {
                let k = key_of(gk, &o);
                self.versions
                    .insert(k.clone(), o.metadata.resource_version.unwrap_or_default());
                vec![k]
            }
            Event::Delete(o) => {
                let k = key_of(gk, &o);
                self.versions.remove(&k);
                vec![k]
            }
            Event::Init => {
                self.relisted.clear();
                Vec::new()
            }
            Event::InitApply(o) => {
                let k = key_of(gk, &o);
                let rv = o.metadata.resource_version.unwrap_or_default();
                self.relisted.insert(k.clone());
                let changed = self.versions.insert(k.clone(), rv.clone()).as_ref() != Some(&rv);
                if changed && self.first_list_done {
                    vec![k]
                } else {
                    Vec::new()
                }
            }
            Event::InitDone => {
                let relisted = std::mem::take(&mut self.relisted);
                let gone: Vec<ObjKey> = self
                    .versions
                    .keys()
                    .filter(|k| !relisted.contains(*k))
                    .cloned()
                    .collect();
                for k in &gone {
                    self.versions.remove(k);
                }
                let first = !std::mem::replace(&mut self.first_list_done, true);
                if first { Vec::new() } else { gone }
            }
        }
    }
}

async fn watch_kind(api: Api<DynamicObject>, gk: GroupKind, tx: broadcast::Sender<ObjKey>) {
    let config = watcher::Config::default().labels(LABEL_APP);
    let mut stream = watcher::watcher(api, config).boxed();
    let mut seen = Seen::default();
    let mut backoff = Duration::from_millis(100);
    tracing::debug!(kind = %gk, "watch started");
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                backoff = Duration::from_millis(100);
                for k in seen.on(&gk, event) {
                    // No subscriber yet is not an error.
                    let _ = tx.send(k);
                }
            }
            Err(e) => {
                tracing::debug!(kind = %gk, error = %e, retry_in = ?backoff, "watch interrupted");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn obj(name: &str, rv: &str) -> DynamicObject {
        let mut o = DynamicObject::new(
            name,
            &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        o.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        };
        o
    }

    #[test]
    fn a_relist_reports_only_what_changed_or_vanished() {
        let gk = GroupKind::new("", "ConfigMap");
        let mut s = Seen::default();
        assert!(s.on(&gk, Event::Init).is_empty());
        assert!(s.on(&gk, Event::InitApply(obj("a", "1"))).is_empty());
        assert!(s.on(&gk, Event::InitApply(obj("b", "1"))).is_empty());
        assert!(
            s.on(&gk, Event::InitDone).is_empty(),
            "the first list is no change"
        );
        assert_eq!(s.on(&gk, Event::Apply(obj("a", "2")))[0].name, "a");
        // After a 410 Gone: a relist where a is unchanged and b was deleted.
        s.on(&gk, Event::Init);
        assert!(s.on(&gk, Event::InitApply(obj("a", "2"))).is_empty());
        let gone = s.on(&gk, Event::InitDone);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].name, "b");
        s.on(&gk, Event::Init);
        assert_eq!(s.on(&gk, Event::InitApply(obj("a", "3"))).len(), 1);
    }
}
