//! PodDisruptionBudgets against the live pods: each budget's status
//! written by the controller, the disruptions a budget leaves for the pods
//! of a label set (the Deployment rollout asks), and the Eviction
//! subresource (`Runtime::evict`: the pod is deleted only if its budget
//! allows it, else `Error::DisruptionBudget`, a 429). `disruption.rs`
//! decides.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use ferry_core::labels::LabelSelector;
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::Runtime;
use crate::deploy::{Changes, mark_deleted, ready};
use crate::disruption::{self, Budget, BudgetInput, PodState, Refused};
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::runtime::Inner;

/// One eviction at a time: each sees the pods the last one deleted.
static EVICTIONS: Mutex<()> = Mutex::new(());

fn pods(inner: &Inner) -> Vec<Pod> {
    inner
        .list(Kind::Pod)
        .iter()
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
        .collect()
}

fn labels(p: &Pod) -> BTreeMap<String, String> {
    p.metadata.labels.clone().unwrap_or_default()
}

/// The budget's selector (policy/v1: `{}` selects every pod of the
/// namespace, none selects nothing).
fn selector(o: &StoredObject) -> Option<LabelSelector> {
    serde_json::from_value(o.value.pointer("/spec/selector")?.clone()).ok()
}

fn selects(o: &StoredObject, ns: &str, l: &BTreeMap<String, String>) -> bool {
    o.namespace.as_deref() == Some(ns) && selector(o).is_some_and(|s| s.matches(l))
}

/// The budget's inputs from the pods it selects.
fn input(inner: &Inner, o: &StoredObject, pods: &[Pod]) -> BudgetInput {
    let ns = o.namespace.clone().unwrap_or_default();
    let mine: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.metadata.namespace.as_deref() == Some(&ns) && selects(o, &ns, &labels(p)))
        .collect();
    let field = |f: &str| {
        o.value
            .pointer(&format!("/spec/{f}"))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    };
    BudgetInput {
        min_available: field("minAvailable"),
        max_unavailable: field("maxUnavailable"),
        pods: mine.len() as i32,
        healthy: mine.iter().filter(|p| ready(inner, p)).count() as i32,
        scale: scale(inner, &ns, &mine),
        generation: o
            .value
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1),
    }
}

/// The desired replicas of the pods' controllers (a ReplicaSet's
/// Deployment, a DaemonSet's one node, another controller's `spec.replicas`).
fn scale(inner: &Inner, ns: &str, pods: &[&Pod]) -> std::result::Result<i32, String> {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for p in pods {
        let mut refs = p.metadata.owner_references.iter().flatten();
        let Some(c) = refs.find(|r| r.controller == Some(true)) else {
            let name = p.metadata.name.clone().unwrap_or_default();
            return Err(format!("found no controllers for pod \"{name}\""));
        };
        let mut owner = (c.api_version.clone(), c.kind.clone(), c.name.clone());
        if c.kind == "ReplicaSet"
            && let Some(rs) = inner.get(Kind::ReplicaSet, ns, &c.name)
            && let Some(d) = rs.value.pointer("/metadata/ownerReferences/0")
            && d["kind"] == "Deployment"
        {
            owner = (
                "apps/v1".into(),
                "Deployment".into(),
                d["name"].as_str().unwrap_or_default().into(),
            );
        }
        if !seen.insert(owner.clone()) {
            continue;
        }
        let kind = Kind::from_group_kind(&GroupKind::of(&owner.0, &owner.1));
        let obj = kind.and_then(|k| inner.get(k, ns, &owner.2));
        let pointer = if owner.1 == "DaemonSet" {
            "/status/desiredNumberScheduled"
        } else {
            "/spec/replicas"
        };
        total += obj
            .and_then(|o| o.value.pointer(pointer).and_then(Value::as_i64))
            .unwrap_or(1) as i32;
    }
    Ok(total)
}

/// Writes every budget's status.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let pods = pods(inner);
    for o in inner.list(Kind::PodDisruptionBudget) {
        let status = disruption::status(&input(inner, &o, &pods));
        if o.value.get("status") != Some(&status) {
            let mut value = o.value.clone();
            value["status"] = status;
            ch.puts.push(StoredObject {
                value,
                ..(*o).clone()
            });
        }
    }
}

/// The budgets selecting pods labelled `l` in `ns`, with their numbers now.
fn budgets_for(
    inner: &Inner,
    ns: &str,
    l: &BTreeMap<String, String>,
    pods: &[Pod],
) -> Vec<(String, Budget, Option<String>)> {
    inner
        .list(Kind::PodDisruptionBudget)
        .iter()
        .filter(|o| selects(o, ns, l))
        .map(|o| {
            let b = disruption::budget(&input(inner, o, pods)).unwrap_or(Budget {
                expected: 0,
                desired_healthy: 0,
                current_healthy: 0,
                disruptions_allowed: 0,
            });
            let policy = o
                .value
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str);
            (o.name.clone(), b, policy.map(String::from))
        })
        .collect()
}

/// The fewest disruptions the budgets selecting pods labelled `l` allow
/// (`None`: no budget selects them).
pub fn allowed_for(
    inner: &Inner,
    ns: &str,
    l: &BTreeMap<String, String>,
    pods: &[Pod],
) -> Option<i32> {
    budgets_for(inner, ns, l, pods)
        .iter()
        .map(|(_, b, _)| b.disruptions_allowed)
        .min()
}

fn state(inner: &Inner, p: &Pod) -> PodState {
    if p.metadata.deletion_timestamp.is_some()
        || p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()
    {
        return PodState::Ignored;
    }
    if ready(inner, p) {
        return PodState::Healthy;
    }
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let rt = inner.pod_rt(&uid);
    let st = rt.lock_or_recover().status.clone();
    let policy = p.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    let running = st
        .container_statuses
        .iter()
        .flatten()
        .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
    if crate::job::finished_phase(policy, &st).is_none() && running {
        PodState::Unhealthy
    } else {
        PodState::Ignored
    }
}

impl Runtime {
    /// The Eviction subresource: deletes pod `ns/name` gracefully unless a
    /// PodDisruptionBudget selecting it has no disruption left.
    pub fn evict(&self, ns: &str, name: &str) -> Result<()> {
        let inner = &self.inner;
        let _one = EVICTIONS.lock_or_recover();
        let o: Arc<StoredObject> =
            inner
                .get(Kind::Pod, ns, name)
                .ok_or_else(|| Error::NotFound {
                    kind: "Pod".into(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })?;
        let pod: Pod =
            serde_json::from_value(o.value.clone()).map_err(|e| Error::Other(e.to_string()))?;
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        let all = pods(inner);
        let budgets = budgets_for(inner, ns, &labels(&pod), &all);
        match disruption::evict(state(inner, &pod), &budgets) {
            Ok(()) => {
                inner.event("Pod", ns, name, false, "Evicted", "evicted through the Eviction API");
                inner.commit(vec![mark_deleted(&o)], vec![])
            }
            Err(Refused::Violates(cause)) => Err(Error::DisruptionBudget(cause)),
            Err(Refused::SeveralBudgets) => Err(Error::Other(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
            )),
        }
    }
}
