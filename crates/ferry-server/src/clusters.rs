//! The fleet: `GET /api/v1/clusters` and `/api/v1/clusters/{name}` list
//! every Kubernetes target of the process — the declared `Cluster`s by
//! name with their labels, then each other distinct
//! `spec.target.kubernetes` of its Regions and Environments — with what the
//! cluster reports — server URL, version, nodes and Ready nodes, through
//! [`KubeTargets::facts`] — the environments on it, and the applications
//! there with the delivery engine's sync and health. Only the server URL
//! and the context name are shown, never a token, a certificate or the
//! kubeconfig's contents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use ferry_api::{ApiError, ErrorCode};
use ferry_core::target_spec::{KubernetesTarget, TargetKind};
use ferry_core::topology::Topology;
use ferry_delivery::status::AppStatus;
use serde_json::{Value, json};

use crate::delivery::KubeTargets;

/// How long one cluster gets to answer `/version` and the node list.
const FACTS_TIMEOUT: Duration = Duration::from_secs(10);

/// What the routes read.
#[derive(Debug)]
pub(crate) struct Fleet {
    pub kube: Option<Arc<dyn KubeTargets>>,
    pub engine: ferry_delivery::Engine,
    pub topology: Arc<Topology>,
    pub config_dir: PathBuf,
}

/// One distinct cluster of the topology.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub name: String,
    /// The spec with its kubeconfig resolved (as the server connects it).
    pub spec: KubernetesTarget,
    /// A declared Cluster's labels (empty for a cluster named directly).
    pub labels: BTreeMap<String, String>,
    /// Declared with `kind: Cluster` (picked by `clusterSelector`).
    pub declared: bool,
    pub regions: Vec<String>,
    pub environments: Vec<String>,
}

/// The routes to nest under `/api/v1`.
pub(crate) fn router(fleet: Fleet) -> Router {
    Router::new()
        .route("/clusters", get(list))
        .route("/clusters/{name}", get(get_one))
        .with_state(Arc::new(fleet))
}

fn resolved(spec: &KubernetesTarget, config_dir: &Path) -> KubernetesTarget {
    KubernetesTarget {
        kubeconfig: spec.kubeconfig_in(config_dir),
        ..spec.clone()
    }
}

/// Every distinct cluster: the declared Clusters in their order, then the
/// others in the order the topology first names them, each with the
/// regions and environments running there; a name two clusters would
/// share gets `-2`, `-3`… on the later ones.
pub(crate) fn members(topology: &Topology, config_dir: &Path) -> Vec<Member> {
    let mut out: Vec<Member> = topology
        .clusters
        .iter()
        .map(|c| Member {
            name: c.metadata.name.clone(),
            spec: resolved(&c.spec.target(), config_dir),
            labels: c.metadata.labels.clone(),
            declared: true,
            regions: Vec::new(),
            environments: Vec::new(),
        })
        .collect();
    let mut placed: Vec<(Vec<usize>, bool, String)> = Vec::new();
    let kinds = topology
        .regions
        .iter()
        .map(|r| {
            (
                topology.region_target(&r.metadata.name),
                true,
                &r.metadata.name,
            )
        })
        .chain(
            topology
                .environments
                .iter()
                .map(|e| (topology.environment_target(e), false, &e.metadata.name)),
        );
    for (kind, is_region, name) in kinds {
        let at = match kind {
            TargetKind::Embedded => continue,
            TargetKind::Kubernetes(k) => vec![member_for(&mut out, &resolved(k, config_dir))],
            TargetKind::Clusters(sel) => picked(&out, topology, sel),
        };
        placed.push((at, is_region, name.clone()));
    }
    for (at, is_region, name) in placed {
        for i in at {
            let list = if is_region {
                &mut out[i].regions
            } else {
                &mut out[i].environments
            };
            list.push(name.clone());
        }
    }
    out
}

/// The index of the member reached by `spec`, added when new.
fn member_for(out: &mut Vec<Member>, spec: &KubernetesTarget) -> usize {
    if let Some(i) = out.iter().position(|m| m.spec == *spec) {
        return i;
    }
    let base = spec.display_name();
    let mut name = base.clone();
    let mut n = 1;
    while out.iter().any(|m| m.name == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    out.push(Member {
        name,
        spec: spec.clone(),
        labels: BTreeMap::new(),
        declared: false,
        regions: Vec::new(),
        environments: Vec::new(),
    });
    out.len() - 1
}

/// The indices of the declared members `sel` picks.
fn picked(out: &[Member], topology: &Topology, sel: &ferry_core::LabelSelector) -> Vec<usize> {
    let names: Vec<&str> = topology
        .selected_clusters(sel)
        .iter()
        .map(|c| c.metadata.name.as_str())
        .collect();
    (0..out.len())
        .filter(|i| out[*i].declared && names.contains(&out[*i].name.as_str()))
        .collect()
}

/// Whether a target of `kind` delivers to `m`.
fn delivers_to(kind: TargetKind<'_>, m: &Member, topology: &Topology, config_dir: &Path) -> bool {
    match kind {
        TargetKind::Embedded => false,
        TargetKind::Kubernetes(k) => resolved(k, config_dir) == m.spec,
        TargetKind::Clusters(sel) => {
            m.declared
                && topology
                    .selected_clusters(sel)
                    .iter()
                    .any(|c| c.metadata.name == m.name)
        }
    }
}

/// The applications' environments running on `m`: a declared environment
/// by its target, any other (an ephemeral one) by its region's.
pub(crate) fn apps_on(
    m: &Member,
    topology: &Topology,
    config_dir: &Path,
    apps: &[AppStatus],
) -> Vec<Value> {
    let here = |env: &str, region: &str| {
        let kind = match topology
            .environments
            .iter()
            .find(|e| e.metadata.name == env)
        {
            Some(e) => topology.environment_target(e),
            None => topology.region_target(region),
        };
        delivers_to(kind, m, topology, config_dir)
    };
    apps.iter()
        .flat_map(|a| a.environments.iter().map(move |e| (a, e)))
        .filter(|(_, e)| here(&e.environment, &e.region))
        .map(|(a, e)| {
            json!({
                "name": a.name,
                "environment": e.environment,
                "namespace": e.namespace,
                "sync": e.sync,
                "health": e.health,
                "syncedRevision": e.synced_revision,
            })
        })
        .collect()
}

/// One cluster as the API shows it, asking it for its facts.
async fn describe(fleet: &Fleet, m: Member, apps: Vec<Value>) -> Value {
    let facts = match &fleet.kube {
        Some(kube) => match tokio::time::timeout(FACTS_TIMEOUT, kube.facts(&m.spec)).await {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", FACTS_TIMEOUT.as_secs())),
        },
        None => Err("no Kubernetes target is built in".to_string()),
    };
    let mut v = json!({
        "name": m.name,
        "context": m.spec.context,
        "inCluster": m.spec.in_cluster,
        "labels": m.labels,
        "regions": m.regions,
        "environments": m.environments,
        "apps": apps,
    });
    match facts {
        Ok(f) => {
            v["server"] = json!(f.server);
            v["version"] = json!(f.version);
            v["nodes"] = json!(f.nodes);
            v["readyNodes"] = json!(f.ready_nodes);
        }
        Err(e) => {
            tracing::warn!(cluster = %m.name, error = %e, "cluster facts");
            v["error"] = json!(e);
        }
    }
    v
}

/// Describes the clusters in parallel (one slow cluster delays the
/// answer by at most [`FACTS_TIMEOUT`]).
async fn describe_all(fleet: Arc<Fleet>, members: Vec<Member>) -> Vec<Value> {
    let apps = fleet.engine.list();
    let tasks: Vec<_> = members
        .into_iter()
        .map(|m| {
            let fleet = fleet.clone();
            let on = apps_on(&m, &fleet.topology, &fleet.config_dir, &apps);
            tokio::spawn(async move { describe(&fleet, m, on).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(v) => out.push(v),
            Err(e) => tracing::warn!(error = %e, "describing a cluster failed"),
        }
    }
    out
}

async fn list(State(fleet): State<Arc<Fleet>>) -> Json<Value> {
    let members = members(&fleet.topology, &fleet.config_dir);
    Json(json!({ "items": describe_all(fleet, members).await }))
}

async fn get_one(
    State(fleet): State<Arc<Fleet>>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let all = members(&fleet.topology, &fleet.config_dir);
    let names: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
    let Some(m) = all.into_iter().find(|m| m.name == name) else {
        let known = if names.is_empty() {
            "no Cluster is declared and no environment or region targets Kubernetes".to_string()
        } else {
            format!("the clusters are: {}", names.join(", "))
        };
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no cluster `{name}`; {known} (`ferry cluster list`)"),
        ));
    };
    let mut items = describe_all(fleet, vec![m]).await;
    Ok(Json(items.pop().unwrap_or_default()))
}

#[cfg(test)]
#[path = "clusters_tests.rs"]
mod tests;
