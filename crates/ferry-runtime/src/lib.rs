//! ferry's embedded runtime: Kubernetes manifests (Namespace, ServiceAccount,
//! ConfigMap, Secret, the RBAC kinds, Service, Deployment, ReplicaSet, Job,
//! CronJob, HorizontalPodAutoscaler, Pod — [`kinds::RESOURCES`]) run on one machine with an OCI
//! runtime (runc). Desired objects live in a SQLite store; a
//! level-triggered loop reconciles Deployments into ReplicaSets and Pods,
//! CronJobs into Jobs and Jobs into Pods run to completion;
//! each pod runs in its own network namespace with loopback only, and
//! Services are reached by name through listeners ferry holds inside every
//! pod. Other components plug in through [`Runtime::register_owner`] (kinds
//! they own) and [`Runtime::set_mesh_handler`] (L7 routing between pods).
#![deny(unsafe_code)]

mod accounts;
mod admission;
pub mod api;
mod api_exec;
mod api_service;
mod apply;
mod apply_check;
mod apply_merge;
pub mod clock;
pub mod cold_start;
mod controller;
mod cron;
mod cronjob;
mod daemonset;
mod daemonset_plan;
mod decode;
mod deploy;
mod deploy_replicaset;
mod disruption;
mod encryption;
mod error;
mod hpa;
mod hpa_behavior;
mod hpa_metrics;
mod hpa_plan;
mod hpa_replicas;
pub mod images;
mod job;
mod job_plan;
pub mod kinds;
mod knative;
mod knative_load;
mod knative_objects;
mod knative_plan;
pub mod knative_prewarm;
mod knative_scale;
pub mod knative_spec;
mod limit_range;
mod local_paths;
mod net;
pub mod netpol;
mod netpol_enforce;
mod netpol_spec;
mod node;
mod oci_images;
mod ops;
mod ops_exec;
mod ops_rollout;
mod pdb;
mod pod;
mod pod_address;
pub mod portforward;
mod protocol;
mod pss;
mod quantity;
mod quota;
mod quota_ctl;
pub mod rbac;
mod rbac_defaults;
pub mod rbac_escalation;
mod rollout;
mod runtime;
mod scheduling;
mod service_listeners;
mod services;
mod statefulset;
mod statefulset_claims;
mod statefulset_plan;
mod store;
mod sys;
mod validate;
mod validate_batch;
mod validate_daemonset;
mod validate_hpa;
mod validate_knative;
mod validate_quota;
mod validate_rbac;
mod validate_service;
mod validate_statefulset;
mod validate_storage;
mod validate_update;
mod volume;
mod volume_plan;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use ferry_core::mesh::{ServiceSnapshot, SharedDialer, SharedMeshHandler};
use ferry_core::objects::KindOwner;
use ferry_core::sync::{MutexExt, RwLockExt};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use api_service::{KUBERNETES_NAMES, KUBERNETES_PORT, kubernetes_vip};
pub use apply::Outcome;
pub use error::{Error, Result};
pub use oci_images::OciImages;
pub use pod::runc::ExecOutput;
pub use runtime::{ApiService, Event, RuntimeConfig};

use crate::pod::runc::Runc;
use crate::runtime::{Inner, Objects};
use crate::store::{Key, Store};

/// Validates manifests without a running runtime (as `apply` would, with
/// only `default` existing): `Ok` with the objects' keys, or every problem.
pub fn plan_manifests(
    sources: &[(String, String)],
    owners: &[Arc<dyn KindOwner>],
) -> std::result::Result<Vec<String>, ferry_core::Problems> {
    let namespaces = [("default".to_string(), pss::Level::Baseline)]
        .into_iter()
        .collect();
    apply::plan(sources, owners, &namespaces)
        .map(|p| p.into_iter().map(|p| p.key.to_string()).collect())
}

/// A running runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Runtime {
    /// Opens the state under `cfg.data_dir` and starts reconciling: stored
    /// pods whose containers still run are re-adopted, the rest restarted.
    pub async fn start(cfg: RuntimeConfig) -> Result<Self> {
        for d in ["pods", "runc", "images"] {
            let p = cfg.data_dir.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io("cannot create", &p, e))?;
        }
        let mut store = Store::open(&cfg.data_dir.join("state.db"))?;
        if let Some(path) = &cfg.encryption_config {
            store.set_encryption(encryption::Encryption::load(path)?)?;
        }
        let mut objects = Objects {
            rv: store.resource_version()?,
            ..Default::default()
        };
        for o in store.load()? {
            objects.map.insert(Key::of(&o), Arc::new(o));
        }
        sys::become_subreaper();
        let images: Arc<dyn images::ImageSource> = match cfg.images.clone() {
            Some(i) => i,
            None => Arc::new(OciImages::open(cfg.data_dir.join("images"))?),
        };
        let runc = Runc {
            bin: cfg.oci_runtime.clone(),
            root: cfg.data_dir.join("runc"),
        };
        let (services, _) = watch::channel(ServiceSnapshot::default());
        let inner = Arc::new(Inner {
            cfg,
            images,
            runc,
            objects: Mutex::new(objects),
            store: Mutex::new(store),
            owners: RwLock::new(Vec::new()),
            mesh: RwLock::new(None),
            requests: RwLock::new(None),
            services,
            committed: watch::Sender::new(0),
            kick: Notify::new(),
            pods: Mutex::new(HashMap::new()),
            events: Mutex::new(VecDeque::new()),
            shutdown: tokio_util::sync::CancellationToken::new(),
            netpol: Default::default(),
            serving: Default::default(),
        });
        node::ensure(&inner)?;
        let task = tokio::spawn(controller::run(inner.clone()));
        inner.kick();
        Ok(Self {
            inner,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// Every Service with its address and endpoints, updated on change.
    pub fn services(&self) -> watch::Receiver<ServiceSnapshot> {
        self.inner.services.subscribe()
    }

    /// The number of commits of the stored objects so far, moving after
    /// each one (after the kind owners, such as the gateway, have seen it).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.committed.subscribe()
    }

    /// Connects to endpoints inside their pods' network namespaces.
    pub fn dialer(&self) -> SharedDialer {
        Arc::new(services::NetnsDialer(Arc::downgrade(&self.inner)))
    }

    /// Registers a component owning kinds the runtime stores for it; it
    /// receives its current objects at once.
    pub fn register_owner(&self, owner: Arc<dyn KindOwner>) {
        let kinds: std::collections::BTreeSet<_> = owner.kinds().into_iter().collect();
        self.inner.owners.write_or_recover().push(owner.clone());
        let all: Vec<_> = self
            .inner
            .objects
            .lock_or_recover()
            .map
            .values()
            .cloned()
            .collect();
        owner.update(
            all.into_iter()
                .filter(|o| kinds.contains(&o.group_kind))
                .collect(),
        );
    }

    /// Decides the API requests of pods' service-account tokens by the
    /// stored RBAC objects (for `ferry_auth::Auth::set_authorizer`).
    pub fn authorizer(&self) -> Arc<dyn ferry_auth::Authorizer> {
        Arc::new(accounts::RbacAuthorizer {
            inner: self.inner.clone(),
        })
    }

    /// The kinds other components own (registered with
    /// [`Runtime::register_owner`]), sorted.
    pub fn owned_kinds(&self) -> Vec<ferry_core::objects::GroupKind> {
        let owners = self.inner.owners.read_or_recover().clone();
        let kinds: std::collections::BTreeSet<_> = owners.iter().flat_map(|o| o.kinds()).collect();
        kinds.into_iter().collect()
    }

    /// Connections refused by NetworkPolicy since start.
    pub fn network_policy_refusals(&self) -> u64 {
        self.inner.netpol.refused()
    }

    /// Installs the handler for connections pods make to Service addresses.
    pub fn set_mesh_handler(&self, handler: SharedMeshHandler) {
        *self.inner.mesh.write_or_recover() = Some(handler);
    }

    /// Installs the per-pod request counts HorizontalPodAutoscalers read
    /// as the `http_requests_per_second` Pods metric.
    pub fn set_request_counts(&self, counts: ferry_core::pod_load::SharedPodRequestCounts) {
        *self.inner.requests.write_or_recover() = Some(counts);
    }

    /// Stops reconciling and stops every pod (processes, mounts, namespaces).
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let task = self.task.lock_or_recover().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
