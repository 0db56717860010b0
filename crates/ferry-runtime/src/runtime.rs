//! The runtime's shared state and its public handle: the object map backed
//! by the store, per-pod runtime status, events, the Service snapshot
//! channel, and the hooks other components plug in (kind owners, the mesh
//! handler). Controllers and pod workers all hold an `Arc<Inner>`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ferry_core::mesh::{ServiceSnapshot, SharedMeshHandler};
use ferry_core::objects::{GroupKind, KindOwner, StoredObject};
use ferry_core::sync::{MutexExt, RwLockExt};
use k8s_openapi::api::core::v1::PodStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::images::ImageSource;
use crate::kinds::Kind;
use crate::pod::runc::Runc;
use crate::store::{Key, Store, Write};

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Everything the runtime keeps lives here (`<region data>/runtime`).
    pub data_dir: PathBuf,
    /// The OCI runtime binary: runc, crun or youki.
    pub oci_runtime: String,
    /// Where images come from; `None`: an OCI store and rootfs cache under
    /// `<data_dir>/images` ([`crate::OciImages`]), pulling from registries.
    pub images: Option<Arc<dyn ImageSource>>,
    /// A Kubernetes `EncryptionConfiguration` (secretbox) whose first key
    /// encrypts Secrets in `state.db`; `None`: stored plain (mode 0600).
    pub encryption_config: Option<PathBuf>,
    pub allow_host_path: bool,
    pub allow_privileged: bool,
    /// First CrashLoopBackOff delay (Kubernetes: 10 s), doubled up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Most processes (and threads) one pod may have (`pids.max` of its
    /// cgroup and of each container's).
    pub pids_limit: i64,
    /// A container log is rotated past this size.
    pub log_max_bytes: u64,
    /// Services get addresses from here up (in 127.0.0.0/8).
    pub vip_base: Ipv4Addr,
    /// NodePort and LoadBalancer Services listen on this host address.
    pub host_ip: Ipv4Addr,
    /// The region's token store: pods get service-account tokens from it
    /// (`None`: no token is mounted).
    pub auth: Option<Arc<ferry_auth::Auth>>,
    /// The region's API, reached from pods as the `kubernetes` Service of
    /// `default` (`None`: no such Service).
    pub api: Option<ApiService>,
    /// "Now" for Job deadlines and TTLs and CronJob schedules.
    pub clock: crate::clock::Clock,
    /// The name of this machine's Node object (the region's name).
    pub node_name: String,
    /// How often each HorizontalPodAutoscaler is evaluated (Kubernetes'
    /// `--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub hpa_sync_period: Duration,
    /// The domain of Knative Services' URLs (`<name>.<ns>.<domain>`; Knative's `config-domain`).
    pub serving_domain: String,
    /// How long a pod's service-account token is valid; it is rotated once
    /// a fifth of that is left (Kubernetes' bound tokens: an hour).
    pub pod_token_ttl: Duration,
}

/// The region's API as pods see it: the `kubernetes` Service forwards to
/// `addr` on the host; `ca_pem` is the CA of its certificate, mounted as
/// the service account's `ca.crt` (empty for a plain-HTTP API).
#[derive(Debug, Clone)]
pub struct ApiService {
    pub addr: std::net::SocketAddr,
    pub ca_pem: Option<Vec<u8>>,
}

impl RuntimeConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            oci_runtime: std::env::var("FERRY_OCI_RUNTIME").unwrap_or_else(|_| "runc".into()),
            images: None,
            encryption_config: None,
            allow_host_path: false,
            allow_privileged: false,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            pids_limit: 1024,
            log_max_bytes: 10 * 1024 * 1024,
            vip_base: Ipv4Addr::new(127, 77, 0, 10),
            host_ip: Ipv4Addr::LOCALHOST,
            auth: None,
            api: None,
            clock: crate::clock::Clock::system(),
            node_name: "ferry".into(),
            hpa_sync_period: Duration::from_secs(15),
            serving_domain: "example.com".into(),
            pod_token_ttl: Duration::from_secs(ferry_auth::pod_tokens::POD_TOKEN_TTL),
        }
    }
}

/// One event, as `describe` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub time: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    /// `Kind/name`.
    pub object: String,
    pub namespace: String,
    pub message: String,
}

/// Live state of one pod (not persisted; rebuilt after a restart).
#[derive(Debug, Default)]
pub struct PodRt {
    pub status: PodStatus,
    pub netns: Option<PathBuf>,
    pub terminating: bool,
    /// Connections ferry is forwarding to this pod right now.
    pub active: Arc<AtomicUsize>,
}

/// In-memory objects plus the last resource version.
#[derive(Debug, Default)]
pub struct Objects {
    pub map: BTreeMap<Key, Arc<StoredObject>>,
    pub rv: u64,
}

/// Shared by every part of the runtime.
#[derive(Debug)]
pub struct Inner {
    pub cfg: RuntimeConfig,
    pub images: Arc<dyn ImageSource>,
    pub runc: Runc,
    pub objects: Mutex<Objects>,
    pub store: Mutex<Store>,
    pub owners: RwLock<Vec<Arc<dyn KindOwner>>>,
    pub mesh: RwLock<Option<SharedMeshHandler>>,
    /// Requests answered per pod (the gateway), for HPAs' Pods metric.
    pub requests: RwLock<Option<ferry_core::pod_load::SharedPodRequestCounts>>,
    pub services: watch::Sender<ServiceSnapshot>,
    /// Counts the commits of the object map (puts and deletes), for
    /// whoever shows objects live (the web UI).
    pub committed: watch::Sender<u64>,
    pub kick: Notify,
    pub pods: Mutex<HashMap<String, Arc<Mutex<PodRt>>>>,
    pub events: Mutex<VecDeque<Event>>,
    pub shutdown: CancellationToken,
    /// NetworkPolicy decisions' view and refusal count.
    pub netpol: crate::netpol_enforce::Cache,
    /// Knative routes for the gateway and revision load from it.
    pub serving: crate::knative_load::Serving,
}

impl Inner {
    /// Asks the controllers to reconcile now.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Records an event.
    pub fn event(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        warning: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        if warning {
            tracing::warn!(object = %format!("{kind}/{name}"), namespace, reason, %message);
        } else {
            tracing::debug!(object = %format!("{kind}/{name}"), namespace, reason, %message);
        }
        let mut ev = self.events.lock_or_recover();
        if ev.len() >= 2000 {
            ev.pop_front();
        }
        ev.push_back(Event {
            time: now(),
            type_: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            object: format!("{kind}/{name}"),
            namespace: namespace.into(),
            message,
        });
    }

    /// A copy of every object of `kind`.
    pub fn list(&self, kind: Kind) -> Vec<Arc<StoredObject>> {
        let gk = kind.group_kind();
        let objs = self.objects.lock_or_recover();
        objs.map
            .iter()
            .filter(|(k, _)| k.group_kind == gk)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// One object.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        let key = Key::new(
            kind.group_kind(),
            if kind.namespaced() { namespace } else { "" },
            name,
        );
        self.objects.lock_or_recover().map.get(&key).cloned()
    }

    /// Decodes one object into its typed form.
    pub fn typed<T: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Option<T> {
        self.get(kind, namespace, name)
            .and_then(|o| serde_json::from_value(o.value.clone()).ok())
    }

    /// Namespaces that exist with the Pod Security Standards level each
    /// enforces (`default`, unless stored with a label: baseline).
    pub fn namespace_levels(&self) -> BTreeMap<String, crate::pss::Level> {
        let mut out: BTreeMap<String, crate::pss::Level> = self
            .list(Kind::Namespace)
            .iter()
            .map(|o| {
                let labels: Option<BTreeMap<String, String>> = o
                    .value
                    .pointer("/metadata/labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok());
                let level = crate::pss::Level::of_labels(labels.as_ref()).unwrap_or_default();
                (o.name.clone(), level)
            })
            .collect();
        out.entry("default".into()).or_default();
        out
    }

    /// Writes `puts` and `deletes` in one transaction and updates the map.
    /// Each put gets the next resource version.
    pub fn commit(&self, puts: Vec<StoredObject>, deletes: Vec<Key>) -> Result<()> {
        let mut objs = self.objects.lock_or_recover();
        let mut rv = objs.rv;
        let mut writes = Vec::new();
        let mut puts_done = Vec::new();
        for mut o in puts {
            rv += 1;
            o.value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
            writes.push(Write::Put(o.clone()));
            puts_done.push(o);
        }
        writes.extend(deletes.iter().cloned().map(Write::Delete));
        self.store.lock_or_recover().commit(&writes, rv)?;
        objs.rv = rv;
        let mut owner_kinds = BTreeSet::new();
        for o in puts_done {
            owner_kinds.insert(o.group_kind.clone());
            objs.map.insert(Key::of(&o), Arc::new(o));
        }
        for k in deletes {
            owner_kinds.insert(k.group_kind.clone());
            objs.map.remove(&k);
        }
        let snapshot: Vec<Arc<StoredObject>> = objs.map.values().cloned().collect();
        drop(objs);
        self.notify_owners(&owner_kinds, &snapshot);
        self.committed.send_modify(|n| *n += 1);
        self.kick();
        Ok(())
    }

    /// Hands each owner whose kinds changed its complete new set.
    pub fn notify_owners(&self, changed: &BTreeSet<GroupKind>, all: &[Arc<StoredObject>]) {
        let owners = self.owners.read_or_recover().clone();
        for owner in owners {
            let kinds: BTreeSet<GroupKind> = owner.kinds().into_iter().collect();
            if kinds.iter().any(|k| changed.contains(k)) {
                owner.update(
                    all.iter()
                        .filter(|o| kinds.contains(&o.group_kind))
                        .cloned()
                        .collect(),
                );
            }
        }
    }

    /// Runtime state of a pod by uid, created on first use.
    pub fn pod_rt(&self, uid: &str) -> Arc<Mutex<PodRt>> {
        self.pods
            .lock_or_recover()
            .entry(uid.to_string())
            .or_default()
            .clone()
    }

    /// The directory of pod `uid`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.cfg.data_dir.join("pods").join(uid)
    }
}

/// Now as an RFC 3339 timestamp.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
