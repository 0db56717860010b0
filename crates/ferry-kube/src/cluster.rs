//! [`KubeTarget`]: one cluster's client, discovery cache and watches, and
//! the apply path — server-side apply with field manager `ferry`, in
//! [`crate::order`]'s phases, each object marked as a member of its app's
//! ApplySet after the parent recorded its kind, custom resources held back
//! until their CustomResourceDefinition is Established.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::sync::MutexExt;

use ferry_core::objects::StoredObject;
use ferry_delivery::object::{ObjKey, set_label};
use ferry_delivery::target::ApplyContext;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};

use crate::applyset::{ApplySet, PART_OF_LABEL, scope_of};
use crate::client::ClusterSource;
use crate::conflict;
use crate::discovery::{Discovery, Served};
use crate::error::{Error, Result};
use crate::lean::Lean;
use crate::order::{crd_group, is_crd, ordered};
use crate::parents::Parents;
use crate::watch::Watches;

/// ferry's field manager on every cluster.
pub const FIELD_MANAGER: &str = "ferry";
/// How long a CustomResourceDefinition may take to be Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// One Kubernetes cluster as a delivery target.
#[derive(Clone)]
pub struct KubeTarget {
    pub(crate) client: Client,
    pub(crate) discovery: Arc<Discovery>,
    pub(crate) watches: Arc<Watches>,
    /// ApplySet parents as last listed or written ([`crate::parents`]).
    pub(crate) parents: Arc<Parents>,
    /// Namespaces seen to exist, so each sync does not GET its namespace.
    /// A namespace deleted since is noticed when an apply into it fails
    /// (the batch is then applied again after re-creating it).
    pub(crate) namespaces: Arc<Mutex<HashSet<String>>>,
    /// The API server's URL as it may be shown (set by [`Self::connect`]).
    pub(crate) server: Option<String>,
}

impl std::fmt::Debug for KubeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTarget")
            .field("server", &self.server)
            .field("default_namespace", &self.client.default_namespace())
            .field("watched_kinds", &self.watches.kinds().len())
            .finish_non_exhaustive()
    }
}

impl KubeTarget {
    /// Connects (builds the client; the first request is the first apply,
    /// list or watch).
    pub async fn connect(source: &ClusterSource) -> Result<Self> {
        let (client, server) = source.client_and_server().await?;
        Ok(Self {
            server: Some(server),
            ..Self::with_client(client)
        })
    }

    /// Wraps an existing client.
    pub fn with_client(client: Client) -> Self {
        Self {
            watches: Arc::new(Watches::new(client.clone())),
            client,
            discovery: Arc::new(Discovery::new()),
            parents: Arc::default(),
            namespaces: Arc::default(),
            server: None,
        }
    }

    /// The kube-rs client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The dynamic API of one served kind in `namespace` (ignored for
    /// cluster-scoped kinds; `None` lists every namespace).
    pub(crate) fn api(&self, served: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
        match (served.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &served.resource),
            _ => Api::all_with(self.client.clone(), &served.resource),
        }
    }

    /// Applies a batch for `ctx`'s app and environment; returns the objects
    /// as the server stored them. With `dry_run` nothing changes (neither
    /// the objects nor the ApplySet parent). A batch that fails because its
    /// namespace is gone (deleted since ferry last saw it) is applied once
    /// more, the namespace and parent asked of the API server afresh.
    pub async fn apply_batch(
        &self,
        ctx: &ApplyContext,
        objects: Vec<StoredObject>,
        dry_run: bool,
    ) -> Result<Vec<StoredObject>> {
        let set = ApplySet::new(&ctx.app, &ctx.environment, &ctx.namespace);
        match self.apply_set(ctx, &set, objects.clone(), dry_run).await {
            Err(Error::Api { source, .. }) if !dry_run && namespace_missing(&source) => {
                tracing::info!(namespace = %ctx.namespace, "namespace gone: applying again");
                self.namespaces.lock_or_recover().clear();
                self.parents.forget(&set);
                self.apply_set(ctx, &set, objects, dry_run).await
            }
            other => other,
        }
    }

    async fn apply_set(
        &self,
        ctx: &ApplyContext,
        set: &ApplySet,
        objects: Vec<StoredObject>,
        dry_run: bool,
    ) -> Result<Vec<StoredObject>> {
        let objects = ordered(objects);
        if !dry_run {
            self.ensure_namespace(&ctx.namespace).await?;
            let (kinds, namespaces) =
                scope_of(objects.iter().map(ObjKey::of).collect::<Vec<_>>().iter());
            self.record_in_parent(set, kinds, namespaces).await?;
        }
        let mut out = Vec::with_capacity(objects.len());
        let mut new_groups: Vec<String> = Vec::new();
        for o in objects {
            let mut value = o.value.clone();
            set_label(&mut value, PART_OF_LABEL, &set.id());
            let fresh = new_groups.contains(&o.group_kind.group);
            let live = match self
                .apply_fresh(&o, &value, ctx.force, dry_run, fresh)
                .await
            {
                Ok(v) => v,
                // A dry run of an object whose namespace or kind does not
                // exist yet: it would be created as written.
                Err(Error::UnknownKind { .. }) if dry_run => value,
                Err(Error::Api { source, .. }) if dry_run && is_not_found(&source) => value,
                Err(e) => return Err(e),
            };
            if is_crd(&o.group_kind) && !dry_run {
                self.established(&o.name).await?;
                if let Some(group) = crd_group(&o) {
                    self.discovery.forget_group(group);
                    new_groups.push(group.to_string());
                }
            }
            out.push(StoredObject { value: live, ..o });
        }
        if !dry_run {
            for o in &out {
                self.watch_kind(o).await;
                self.watches.record(&o.group_kind, &o.value);
            }
        }
        Ok(out)
    }

    /// Starts the shared watch of an applied object's kind.
    async fn watch_kind(&self, o: &StoredObject) {
        let api_version = o
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = ObjKey::of(o).to_string();
        if let Ok(served) = self
            .discovery
            .resolve(&self.client, api_version, &o.group_kind.kind, &key)
            .await
        {
            self.watches.ensure(o.group_kind.clone(), served);
        }
    }

    /// [`Self::apply_one`], retried while the kind is unknown if its CRD
    /// was just applied (`fresh`): discovery serves a new group a moment
    /// after the CRD is Established.
    async fn apply_fresh(
        &self,
        o: &StoredObject,
        value: &Value,
        force: bool,
        dry_run: bool,
        fresh: bool,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + ESTABLISH_TIMEOUT;
        loop {
            match self.apply_one(o, value, force, dry_run).await {
                Err(Error::UnknownKind { .. })
                    if fresh && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// Server-side applies one object. A 409 whose other managers only
    /// edited imperatively (kubectl edit, patch, scale: operation Update)
    /// is drift, and ferry takes the fields back as Argo CD and Flux do; a
    /// conflict with another *applier* becomes [`Error::Conflict`] naming
    /// it, unless `force`.
    async fn apply_one(
        &self,
        o: &StoredObject,
        value: &Value,
        force: bool,
        dry_run: bool,
    ) -> Result<Value> {
        let key = ObjKey::of(o).to_string();
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let served = self
            .discovery
            .resolve(&self.client, api_version, &o.group_kind.kind, &key)
            .await?;
        let api = self.api(&served, o.namespace.as_deref());
        let mut force = force;
        loop {
            let mut params = PatchParams::apply(FIELD_MANAGER);
            if force {
                params = params.force();
            }
            if dry_run {
                params = params.dry_run();
            }
            // The answer parsed leanly: its managedFields are never read.
            let req = kube::core::Request::new(api.resource_url())
                .patch(&o.name, &params, &Patch::Apply(value))
                .map_err(|e| Error::api(format!("apply {key}"), kube::Error::BuildRequest(e)))?;
            let r = match self.client.request::<Lean>(req).await {
                Ok(Lean(live)) => return Ok(live),
                Err(kube::Error::Api(r)) if r.code == 409 && !force => r,
                Err(e) => return Err(Error::api(format!("apply {key} (from {})", o.source), e)),
            };
            let (managers, fields) = conflict::parse(&r.message);
            let live = api.get_opt(&o.name).await.ok().flatten();
            let entries: Vec<(String, String)> = live
                .and_then(|l| l.metadata.managed_fields)
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    (
                        m.manager.unwrap_or_default(),
                        m.operation.unwrap_or_default(),
                    )
                })
                .collect();
            if conflict::only_imperative(&managers, &entries) {
                tracing::info!(object = %key, ?managers, ?fields, "taking back fields edited by hand");
                force = true;
                continue;
            }
            return Err(Error::Conflict {
                message: conflict::describe(&key, &managers, &fields),
                object: key,
                managers,
                fields,
                server: r.message,
            });
        }
    }

    /// Creates the environment's namespace when missing (unlabelled, as
    /// Argo CD's CreateNamespace: never pruned); asks the API server only
    /// the first time.
    async fn ensure_namespace(&self, name: &str) -> Result<()> {
        if self.namespaces.lock_or_recover().contains(name) {
            return Ok(());
        }
        self.create_namespace(name).await?;
        self.namespaces.lock_or_recover().insert(name.to_string());
        Ok(())
    }

    async fn create_namespace(&self, name: &str) -> Result<()> {
        let api: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()),
        );
        if api
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("get namespace {name}"), e))?
            .is_some()
        {
            return Ok(());
        }
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&ns))
            .await
            .map_err(|e| Error::api(format!("create namespace {name}"), e))?;
        Ok(())
    }

    /// Waits for a CustomResourceDefinition's Established condition.
    async fn established(&self, name: &str) -> Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let wait = await_condition(api, name, conditions::is_crd_established());
        match tokio::time::timeout(ESTABLISH_TIMEOUT, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Invalid {
                object: format!("CustomResourceDefinition/{name}"),
                message: format!("waiting for Established: {e}"),
            }),
            Err(_) => Err(Error::NotEstablished {
                name: name.to_string(),
                seconds: ESTABLISH_TIMEOUT.as_secs(),
            }),
        }
    }
}

pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(r) if r.code == 404)
}

/// True when a write failed because its namespace does not exist
/// (`namespaces "x" not found`).
fn namespace_missing(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(r) if r.code == 404 && r.message.starts_with("namespaces \""))
}
