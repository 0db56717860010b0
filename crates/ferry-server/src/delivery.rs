//! The process's one delivery engine and where it delivers.
//!
//! [`crate::start`] creates and starts the engine before any region, with
//! its data under the first region's data directory (`<data
//! dir>/delivery`), and hands it to every region. Each region attaches its
//! registry and its sync target: the region's `spec.target` (its embedded
//! runtime by default), and for each of its environments naming another
//! `spec.target`, that target instead. Kubernetes targets come from the
//! [`KubeTargets`] plugged into [`crate::ServerConfig::kube_targets`]
//! (ferry-kube); one target per distinct cluster spec, shared by every
//! region and environment naming it. A `clusterSelector` matching several
//! declared Clusters gets a [`FleetTarget`] over theirs (one per distinct
//! set), one matching a single Cluster that cluster's target;
//! [`crate::clusters`] lists them (`/api/v1/clusters`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use ferry_core::events::EventBus;
use ferry_core::target_spec::{ClusterFacts, KubernetesTarget, TargetKind};
use ferry_core::topology::Topology;
use ferry_delivery::fleet::FleetTarget;
use ferry_delivery::target::{BoxFuture, Target};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::region::RegionContext;

/// Connects to Kubernetes clusters for `target: {kubernetes: ...}`.
pub trait KubeTargets: Send + Sync + std::fmt::Debug {
    /// A sync target for the cluster `spec` names; `spec.kubeconfig` is
    /// already resolved against the topology file's directory.
    fn connect<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<Arc<dyn Target>>>;

    /// What the cluster `spec` reports — API server URL, version, nodes —
    /// for `ferry cluster list|get` (`spec` as given to [`Self::connect`]).
    /// Never a credential.
    fn facts<'a>(
        &'a self,
        spec: &'a KubernetesTarget,
    ) -> BoxFuture<'a, ferry_delivery::Result<ClusterFacts>> {
        let _ = spec;
        Box::pin(async {
            Err(ferry_delivery::Error::Target(
                "this Kubernetes connector does not describe clusters".into(),
            ))
        })
    }
}

/// The engine and the targets built for it so far.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub engine: ferry_delivery::Engine,
    kube: Option<Arc<dyn KubeTargets>>,
    config_dir: PathBuf,
    clusters: tokio::sync::Mutex<HashMap<KubernetesTarget, Arc<dyn Target>>>,
    /// Fleets by their clusters' names, so environments picking the same
    /// clusters share one target (listed once per pass).
    fleets: tokio::sync::Mutex<HashMap<Vec<String>, Arc<dyn Target>>>,
}

/// Refuses, before anything binds, a topology naming a Kubernetes target
/// when no [`KubeTargets`] is plugged in.
pub(crate) fn check_targets(topology: &Topology, kube: bool) -> Result<(), Error> {
    if kube {
        return Ok(());
    }
    let regions = topology
        .regions
        .iter()
        .filter(|r| {
            matches!(
                topology.region_target(&r.metadata.name),
                TargetKind::Kubernetes(_) | TargetKind::Clusters(_)
            )
        })
        .map(|r| format!("region `{}`", r.metadata.name));
    let envs = topology
        .environments
        .iter()
        .filter(|e| e.spec.target.is_some())
        .filter(|e| {
            matches!(
                topology.environment_target(e),
                TargetKind::Kubernetes(_) | TargetKind::Clusters(_)
            )
        })
        .map(|e| format!("environment `{}`", e.metadata.name));
    let named: Vec<String> = regions.chain(envs).collect();
    if named.is_empty() {
        Ok(())
    } else {
        Err(Error::NoKubernetes { named })
    }
}

impl Delivery {
    /// Creates and starts the engine (runtime flags from the process
    /// environment); `region` names the region whose data directory holds it.
    pub(crate) fn start(
        region: &str,
        data_dir: &Path,
        config: &crate::ServerConfig,
        topology: &Arc<Topology>,
        events: &EventBus,
        shutdown: &CancellationToken,
    ) -> Result<Self, Error> {
        let cfg = ferry_delivery::EngineConfig::from_env(data_dir.join("delivery"), |k| {
            std::env::var(k).ok()
        });
        let engine = ferry_delivery::Engine::new(
            cfg,
            topology.clone(),
            events.clone(),
            Arc::new(ferry_delivery::images::HttpImageCheck::default()),
        )
        .map_err(|e| Error::Component {
            region: region.to_string(),
            component: "delivery",
            message: e.to_string(),
        })?;
        engine.start(shutdown.clone());
        Ok(Self {
            engine,
            kube: config.kube_targets.clone(),
            config_dir: config.config_dir.clone(),
            clusters: Default::default(),
            fleets: Default::default(),
        })
    }

    /// The target for `spec`, connecting on first use.
    async fn cluster(
        &self,
        spec: &KubernetesTarget,
        region: &str,
    ) -> Result<Arc<dyn Target>, Error> {
        let resolved = KubernetesTarget {
            kubeconfig: spec.kubeconfig_in(&self.config_dir),
            ..spec.clone()
        };
        let mut clusters = self.clusters.lock().await;
        if let Some(t) = clusters.get(&resolved) {
            return Ok(t.clone());
        }
        let failed = |message: String| Error::Component {
            region: region.to_string(),
            component: "kubernetes target",
            message,
        };
        let kube = self
            .kube
            .as_ref()
            .ok_or_else(|| failed("no Kubernetes target is built in".into()))?;
        let target = kube
            .connect(&resolved)
            .await
            .map_err(|e| failed(e.to_string()))?;
        clusters.insert(resolved, target.clone());
        Ok(target)
    }

    /// The target of a `clusterSelector`: the one cluster it picks, or a
    /// fleet over every cluster it picks.
    async fn fleet(
        &self,
        topo: &Topology,
        selector: &ferry_core::LabelSelector,
        region: &str,
    ) -> Result<Arc<dyn Target>, Error> {
        let picked = topo.selected_clusters(selector);
        let names: Vec<String> = picked.iter().map(|c| c.metadata.name.clone()).collect();
        if let Some(t) = self.fleets.lock().await.get(&names) {
            return Ok(t.clone());
        }
        let mut members = Vec::with_capacity(picked.len());
        for c in picked {
            let target = self.cluster(&c.spec.target(), region).await?;
            members.push((c.metadata.name.clone(), target));
        }
        let target: Arc<dyn Target> = match members.len() {
            1 => members.remove(0).1,
            _ => Arc::new(FleetTarget::new(members)),
        };
        tracing::info!(region, clusters = ?names, "clusters picked by label");
        self.fleets.lock().await.insert(names, target.clone());
        Ok(target)
    }

    /// The target `kind` names, for region `region`.
    async fn target_of(
        &self,
        kind: TargetKind<'_>,
        embedded: &Arc<dyn Target>,
        topo: &Topology,
        region: &str,
    ) -> Result<Arc<dyn Target>, Error> {
        match kind {
            TargetKind::Embedded => Ok(embedded.clone()),
            TargetKind::Kubernetes(k) => self.cluster(k, region).await,
            TargetKind::Clusters(sel) => self.fleet(topo, sel, region).await,
        }
    }

    /// Attaches a region: its environments' own targets first (so no pass
    /// syncs them to the region's), then the region's target, registry
    /// (with the pull logins it mints for Kubernetes targets) and image
    /// builder. Returns the engine's routes.
    pub(crate) async fn attach(
        &self,
        ctx: &RegionContext,
        runtime: &ferry_runtime::Runtime,
        oci: &ferry_registry::Registry,
        metrics: &mut Registry,
        api_loopback: bool,
    ) -> Result<Router, Error> {
        let embedded: Arc<dyn Target> = Arc::new(
            ferry_delivery::runtime_target::RuntimeTarget::new(runtime.clone()),
        );
        let topo = &ctx.topology;
        let mine = topo
            .environments
            .iter()
            .filter(|e| e.spec.region == ctx.name && e.spec.target.is_some());
        for env in mine {
            let kind = topo.environment_target(env);
            let target = self.target_of(kind, &embedded, topo, &ctx.name).await?;
            self.engine
                .set_environment_target(&env.metadata.name, target);
        }
        let kind = topo.region_target(&ctx.name);
        let target = self.target_of(kind, &embedded, topo, &ctx.name).await?;
        let registry = ctx
            .endpoints
            .get(&ctx.name)
            .map(|e| e.local_registry.to_string())
            .unwrap_or_default();
        // Before the region attaches, so no pass renders its apps without.
        let logins = crate::pull::RegistryLogins {
            registry: oci.clone(),
            region: ctx.name.clone(),
        };
        self.engine
            .set_pull_credentials(&ctx.name, Arc::new(logins));
        let routes = ferry_delivery::attach(
            &self.engine,
            ferry_delivery::Attach {
                region: &ctx.name,
                target,
                registry,
                builder: Some(Arc::new(crate::builder::DockerfileBuilder::new(
                    &ctx.data_dir,
                ))),
                api_loopback,
            },
        );
        self.engine.metrics().register(metrics);
        let fleet = crate::clusters::Fleet {
            kube: self.kube.clone(),
            engine: self.engine.clone(),
            topology: topo.clone(),
            config_dir: self.config_dir.clone(),
        };
        Ok(routes.merge(crate::clusters::router(fleet)))
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
