//! Drift from watches, not polling: one watch per kind per cluster, shared
//! by every application, over the objects ferry labelled. Each keeps a
//! [`KindStore`] that `list` reads instead of asking the API server every
//! pass. The watch resumes from the last resourceVersion after a
//! disconnect and relists after `410 Gone`; an event is applied to the
//! store before its key goes to the `broadcast` channel the engine
//! subscribes to, so the pass it wakes sees it. Lists and watch lines are
//! parsed leanly ([`crate::lean`]): managedFields are never allocated.

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_core::objects::GroupKind;
use ferry_delivery::object::{LABEL_APP, ObjKey};
use http_body_util::BodyExt;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, WatchParams};
use kube::core::Request;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::discovery::Served;
use crate::lean::{Lean, LeanEvent, LeanList};
use crate::store::KindStore;

/// How many changed keys a slow subscriber may fall behind by before it
/// sees `Lagged` (and should then re-reconcile everything).
const CHANNEL: usize = 4096;
/// Objects per page of a relist.
const PAGE: u32 = 500;
/// Retries pause from this, doubling, up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

type Store = Arc<Mutex<KindStore>>;

/// The watches of one cluster.
pub struct Watches {
    client: Client,
    tx: broadcast::Sender<ObjKey>,
    running: Mutex<HashMap<GroupKind, (AbortHandle, Store)>>,
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
        let store = Arc::new(Mutex::new(KindStore::new(
            gk.clone(),
            &served.resource.api_version,
        )));
        let kind = Kind {
            client: self.client.clone(),
            path: api.resource_url().to_string(),
            gk: gk.clone(),
            store: store.clone(),
            tx: self.tx.clone(),
        };
        let task = tokio::spawn(kind.run());
        running.insert(gk, (task.abort_handle(), store));
    }

    fn store(&self, gk: &GroupKind) -> Option<Store> {
        self.running
            .lock_or_recover()
            .get(gk)
            .map(|(_, s)| s.clone())
    }

    /// Objects of `gk` whose label `key` is `value` (any when empty), from
    /// the watch's store; `None` when it cannot answer (not watched, first
    /// list not complete, disconnected): ask the API server.
    pub fn cached(&self, gk: &GroupKind, key: &str, value: &str) -> Option<Vec<Value>> {
        let store = self.store(gk)?;
        let store = store.lock_or_recover();
        store.serves().then(|| store.matching(key, value))
    }

    /// Keeps the server's answer to ferry's own apply, so the next read
    /// sees it even before the watch delivers it (never replacing a newer
    /// version the watch already brought).
    pub fn record(&self, gk: &GroupKind, live: &Value) {
        let Some(store) = self.store(gk) else { return };
        let Ok(lean) = serde_json::from_value::<Lean>(live.clone()) else {
            return;
        };
        store.lock_or_recover().applied(lean);
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for (task, _) in self.running.lock_or_recover().values() {
            task.abort();
        }
    }
}

/// One kind's watch: where it is served, its store, where changes go.
struct Kind {
    client: Client,
    /// `/api/v1/configmaps`, `/apis/apps/v1/deployments`...
    path: String,
    gk: GroupKind,
    store: Store,
    tx: broadcast::Sender<ObjKey>,
}

/// How one watch request ended.
enum Ended {
    /// The server closed it (its timeout): watch again from here.
    Closed(String),
    /// `410 Gone`: the version is too old, relist.
    Gone,
    /// A transport or server error: retry from here after a pause.
    Failed(String, kube::Error),
}

impl Kind {
    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        let mut from: Option<String> = None;
        tracing::debug!(kind = %self.gk, "watch started");
        loop {
            let version = match from.take() {
                Some(v) => v,
                None => match self.relist().await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(kind = %self.gk, error = %e, retry_in = ?backoff, "relist failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                },
            };
            match self.watch(&version).await {
                Ended::Closed(v) => {
                    backoff = MIN_BACKOFF;
                    from = Some(v);
                }
                Ended::Gone => tracing::debug!(kind = %self.gk, "410 Gone: relisting"),
                Ended::Failed(v, e) => {
                    self.store.lock_or_recover().set_live(false);
                    tracing::debug!(kind = %self.gk, error = %e, retry_in = ?backoff, "watch interrupted");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    from = Some(v);
                }
            }
        }
    }

    fn send(&self, keys: Vec<ObjKey>) {
        for k in keys {
            // No subscriber yet is not an error.
            let _ = self.tx.send(k);
        }
    }

    /// Lists every labelled object in pages into a fresh map; returns the
    /// list's resourceVersion to watch from.
    async fn relist(&self) -> Result<String, kube::Error> {
        self.store.lock_or_recover().begin_relist();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().labels(LABEL_APP).limit(PAGE);
            lp.continue_token = token.take();
            let req = Request::new(&self.path)
                .list(&lp)
                .map_err(kube::Error::BuildRequest)?;
            let page: LeanList =
                serde_json::from_slice(&self.get(req).await?).map_err(kube::Error::SerdeError)?;
            let mut store = self.store.lock_or_recover();
            for o in page.items {
                store.relisted(o);
            }
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => {
                    let changed = store.end_relist();
                    let (objects, bytes) = store.size();
                    drop(store);
                    tracing::debug!(kind = %self.gk, objects, bytes, "relisted");
                    self.send(changed);
                    return Ok(page.metadata.resource_version.unwrap_or_default());
                }
            }
        }
    }

    /// A GET's body; an error status becomes [`kube::Error::Api`].
    async fn get(&self, req: http::Request<Vec<u8>>) -> Result<Bytes, kube::Error> {
        let res = self.client.send(req.map(kube::client::Body::from)).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(api_error(status.as_u16(), &body))
        }
    }

    /// Watches from `version` until the request ends; events go to the
    /// store, then their keys to the channel.
    async fn watch(&self, version: &str) -> Ended {
        let mut rv = version.to_string();
        let wp = WatchParams::default().labels(LABEL_APP).timeout(290);
        let req = match Request::new(&self.path).watch(&wp, version) {
            Ok(r) => r,
            Err(e) => return Ended::Failed(rv, kube::Error::BuildRequest(e)),
        };
        let res = match self.client.send(req.map(kube::client::Body::from)).await {
            Ok(r) => r,
            Err(e) => return Ended::Failed(rv, e),
        };
        let status = res.status();
        let mut body = res.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return match status.as_u16() {
                410 => Ended::Gone,
                code => Ended::Failed(rv, api_error(code, &bytes)),
            };
        }
        self.store.lock_or_recover().set_live(true);
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let data = match body.frame().await {
                None => return Ended::Closed(rv),
                Some(Err(e)) => return Ended::Failed(rv, e),
                Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
            };
            buf.extend_from_slice(&data);
            while let Some(at) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=at).collect();
                if let Some(end) = self.event(&line, &mut rv) {
                    return end;
                }
            }
        }
    }

    /// Applies one watch line; `Some` ends the watch.
    fn event(&self, line: &[u8], rv: &mut String) -> Option<Ended> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let event = match serde_json::from_slice::<LeanEvent>(line) {
            Ok(e) => e,
            Err(e) => return Some(Ended::Failed(rv.clone(), kube::Error::SerdeError(e))),
        };
        let changed = match event {
            LeanEvent::Added(o) | LeanEvent::Modified(o) => {
                *rv = o.resource_version().to_string();
                self.store.lock_or_recover().applied(o)
            }
            LeanEvent::Deleted(o) => {
                *rv = o.resource_version().to_string();
                Some(self.store.lock_or_recover().deleted(&o))
            }
            LeanEvent::Bookmark(o) => {
                *rv = o.resource_version().to_string();
                None
            }
            LeanEvent::Error(status) => {
                return Some(match LeanEvent::error_code(&status) {
                    410 => Ended::Gone,
                    code => {
                        Ended::Failed(rv.clone(), api_error(code, status.to_string().as_bytes()))
                    }
                });
            }
        };
        self.send(changed.into_iter().collect());
        None
    }
}

/// An error status's body as kube-rs reports it.
fn api_error(code: u16, body: &[u8]) -> kube::Error {
    let status: Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |f: &str| {
        status
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    kube::Error::Api(kube::core::ErrorResponse {
        status: text("status"),
        message: text("message"),
        reason: text("reason"),
        code,
    })
}
