//! The two kinds of [`Cluster`] a scenario runs on: ferry-delivery's
//! in-memory target (every Deployment Available at once), and a real
//! Kubernetes API server through ferry-kube's `KubeTarget`, read back with
//! a client of its own. [`memory`] and [`kube`] build a [`World`] on them.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use ferry_delivery::object::ObjKey;
use ferry_delivery::target::{BoxFuture, MemoryTarget, Target};
use ferry_kube::discovery::Discovery;
use ferry_kube::{ClusterSource, KubeTarget};
use ferry_test_support::kube::KubeCluster;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use crate::world::{Cluster, Gate, World};

impl Cluster for MemoryTarget {
    fn target(&self) -> Arc<dyn Target> {
        Arc::new(self.clone())
    }

    fn get<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Option<Value>> {
        let found = MemoryTarget::get(self, key).map(|o| o.value);
        Box::pin(async move { found })
    }

    fn create_foreign(&self, value: Value) -> BoxFuture<'_, ()> {
        let k = ObjKey::of_value(&value).expect("apiVersion, kind and name");
        self.put(StoredObject {
            group_kind: k.group_kind,
            namespace: k.namespace,
            name: k.name,
            source: String::new(),
            value,
        });
        Box::pin(async {})
    }
}

/// Both regions in memory.
pub fn memory(gate: Gate) -> World {
    World::new(
        gate,
        Arc::new(MemoryTarget::new()),
        Arc::new(MemoryTarget::new()),
    )
}

/// What a Kubernetes region runs besides its API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nodes {
    /// etcd and kube-apiserver only: objects are stored, no controller
    /// acts on them (Deployments never become Available, a deleted
    /// Namespace stays Terminating).
    None,
    /// Controllers, a scheduler and a kwok node: Deployments become
    /// Available, so health gates can open, and a deleted Namespace goes
    /// away once the namespace controller emptied it.
    Kwok,
}

/// One region on a real API server.
struct Kube {
    target: Arc<KubeTarget>,
    /// Discovery of its own, apart from the target's.
    discovery: Discovery,
    _cluster: KubeCluster,
}

impl Kube {
    async fn start(nodes: Nodes) -> Kube {
        let cluster = tokio::task::spawn_blocking(move || match nodes {
            Nodes::None => KubeCluster::start_api(),
            Nodes::Kwok => KubeCluster::start_with_controllers(),
        })
        .await
        .expect("start the cluster");
        let source = ClusterSource::kubeconfig(cluster.kubeconfig(), Some("ferry-test"));
        let target = KubeTarget::connect(&source).await.expect("connect");
        Kube {
            target: Arc::new(target),
            discovery: Discovery::new(),
            _cluster: cluster,
        }
    }

    async fn api(&self, key: &ObjKey) -> Api<DynamicObject> {
        let client = self.target.client();
        let served = self.discovery.resolve_kind(client, &key.group_kind).await;
        let served = served.expect("discovery").expect("a served kind");
        match (served.namespaced, &key.namespace) {
            (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &served.resource),
            _ => Api::all_with(client.clone(), &served.resource),
        }
    }
}

impl Cluster for Kube {
    fn target(&self) -> Arc<dyn Target> {
        self.target.clone()
    }

    fn get<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async move {
            let live = self.api(key).await.get_opt(&key.name).await;
            let live = live.unwrap_or_else(|e| panic!("get {key}: {e}"))?;
            Some(serde_json::to_value(live).expect("JSON"))
        })
    }

    fn create_foreign(&self, value: Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let k = ObjKey::of_value(&value).expect("apiVersion, kind and name");
            let params = PatchParams::apply("another-tool");
            let api = self.api(&k).await;
            let made = api.patch(&k.name, &params, &Patch::Apply(&value)).await;
            made.unwrap_or_else(|e| panic!("create {k}: {e}"));
        })
    }
}

/// uk on a cluster with `uk` nodes, shanghai on one with an API server
/// only; the two start in parallel.
pub async fn kube(gate: Gate, uk: Nodes) -> World {
    let (uk, shanghai) = tokio::join!(Kube::start(uk), Kube::start(Nodes::None));
    World::new(gate, Arc::new(uk), Arc::new(shanghai))
}
