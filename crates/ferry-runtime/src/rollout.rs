//! The Deployment controller's decisions, apart from writing them: which
//! ReplicaSets a Deployment owns and which is the current template's;
//! how many replicas each gets under Recreate or a rolling update
//! (maxSurge/maxUnavailable gated on pod readiness); and the status it
//! reports. `deploy.rs` applies them.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::deploy::{HASH, REVISION, owned_by, percent, ready, template_hash};
use crate::runtime::Inner;
use ferry_core::objects::StoredObject;

/// Counts a namespace's live pods per owning ReplicaSet.
pub(crate) struct PodCount<'a> {
    pub inner: &'a Inner,
    pub pods: &'a [Pod],
    pub ns: &'a str,
}

impl PodCount<'_> {
    /// Pods of `rs_name` not being deleted (only ready ones when asked).
    pub fn of(&self, rs_name: &str, only_ready: bool) -> i32 {
        self.pods
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.metadata.namespace.as_deref() == Some(self.ns)
            })
            .filter(|p| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.name == rs_name)
            })
            .filter(|p| !only_ready || ready(self.inner, p))
            .count() as i32
    }
}

/// A Deployment and the ReplicaSets it owns.
pub(crate) struct Owned<'a> {
    pub ns: String,
    pub uid: String,
    pub spec: &'a DeploymentSpec,
    pub replicas: i32,
    pub template: Value,
    pub hash: String,
    /// Oldest revision first.
    pub mine: Vec<&'a ReplicaSet>,
    pub max_rev: i64,
    /// `<deployment>-<template hash>`.
    pub rs_name: String,
    /// The ReplicaSet of the current template, if it exists.
    pub new_rs: Option<&'a ReplicaSet>,
}

impl<'a> Owned<'a> {
    /// `None` for a Deployment without a spec.
    pub fn of(o: &StoredObject, d: &'a Deployment, rss: &'a [ReplicaSet]) -> Option<Self> {
        let spec = d.spec.as_ref()?;
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let template = o
            .value
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let hash = template_hash(&template);
        let mut mine: Vec<&ReplicaSet> = rss
            .iter()
            .filter(|r| owned_by(&r.metadata.owner_references, &uid))
            .collect();
        mine.sort_by_key(|r| revision(r));
        let max_rev = mine.iter().map(|r| revision(r)).max().unwrap_or(0);
        let new_rs = mine
            .iter()
            .find(|r| r.metadata.labels.as_ref().and_then(|l| l.get(HASH)) == Some(&hash))
            .copied();
        Some(Owned {
            ns: o.namespace.clone().unwrap_or_default(),
            uid,
            spec,
            replicas: spec.replicas.unwrap_or(1),
            template,
            rs_name: format!("{}-{hash}", o.name),
            hash,
            mine,
            max_rev,
            new_rs,
        })
    }

    pub fn recreate(&self) -> bool {
        self.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate")
    }
}

/// The revision annotation of a ReplicaSet (0 when missing).
pub(crate) fn revision(r: &ReplicaSet) -> i64 {
    r.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
}

/// The replicas a ReplicaSet's spec asks for.
pub(crate) fn spec_replicas(r: &ReplicaSet) -> i32 {
    r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// Recreate: old ReplicaSets go to zero; the new one scales up once their
/// pods are gone. Returns the new ReplicaSet's replicas.
pub(crate) fn scale_recreate(
    v: &Owned<'_>,
    olds: &[&ReplicaSet],
    count: &PodCount<'_>,
    old_replicas: &mut [(String, i32)],
) -> i32 {
    old_replicas.iter_mut().for_each(|(_, n)| *n = 0);
    let old_pods: i32 = olds
        .iter()
        .map(|r| count.of(r.metadata.name.as_deref().unwrap_or_default(), false))
        .sum();
    if old_pods == 0 { v.replicas } else { 0 }
}

/// Rolling update: the new ReplicaSet grows within maxSurge; old ones
/// shrink (unready pods first) while at least `replicas - maxUnavailable`
/// pods stay ready, and ready ones only as far as a PodDisruptionBudget
/// selecting them allows (`pdb_allowed`). Returns the new ReplicaSet's replicas.
pub(crate) fn scale_rolling(
    v: &Owned<'_>,
    count: &PodCount<'_>,
    mut new_replicas: i32,
    old_replicas: &mut [(String, i32)],
    pdb_allowed: Option<i32>,
) -> i32 {
    let replicas = v.replicas;
    let ru = v
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let surge = percent(ru.max_surge.as_ref(), replicas, "25%", true);
    let mut unavail = percent(ru.max_unavailable.as_ref(), replicas, "25%", false);
    if surge == 0 && unavail == 0 {
        unavail = 1;
    }
    let total: i32 = new_replicas + old_replicas.iter().map(|(_, n)| n).sum::<i32>();
    if new_replicas < replicas {
        new_replicas = (new_replicas + (replicas + surge - total).max(0)).min(replicas);
    } else if new_replicas > replicas {
        new_replicas = replicas;
    }
    let min_available = replicas - unavail;
    let all_pods = new_replicas + old_replicas.iter().map(|(_, n)| n).sum::<i32>();
    let new_ready = count.of(&v.rs_name, true);
    let new_unavailable = (new_replicas - new_ready).max(0);
    let mut budget = all_pods - min_available - new_unavailable;
    // Unready old pods go first, then ready ones within the budget.
    for (name, n) in old_replicas.iter_mut() {
        let unready = (*n - count.of(name, true))
            .max(0)
            .min(budget.max(0))
            .min(*n);
        *n -= unready;
        budget -= unready;
    }
    let old_ready_total: i32 = old_replicas
        .iter()
        .map(|(name, _)| count.of(name, true))
        .sum();
    let mut can_remove = ready_removals(
        old_ready_total + new_ready - min_available,
        budget,
        pdb_allowed,
    );
    for (_, n) in old_replicas.iter_mut() {
        let take = can_remove.min(*n);
        *n -= take;
        can_remove -= take;
    }
    new_replicas
}

/// How many ready old pods may go this round: those above the minimum
/// available, within the rollout's budget, and no more than the
/// disruptions a PodDisruptionBudget selecting them allows (`None`: none
/// selects them) — the rollout then waits for new pods to become ready.
pub(crate) fn ready_removals(above_minimum: i32, budget: i32, pdb_allowed: Option<i32>) -> i32 {
    let n = above_minimum.max(0).min(budget.max(0));
    pdb_allowed.map_or(n, |allowed| n.min(allowed.max(0)))
}

/// The Deployment's status: replica counts and the Available and
/// Progressing conditions.
pub(crate) fn status(d: &Deployment, v: &Owned<'_>, count: &PodCount<'_>) -> Value {
    let (replicas, rs_name) = (v.replicas, &v.rs_name);
    let updated = count.of(rs_name, false);
    let ready_new = count.of(rs_name, true);
    let all: i32 = v
        .mine
        .iter()
        .map(|r| count.of(r.metadata.name.as_deref().unwrap_or_default(), false))
        .sum::<i32>()
        + if v.new_rs.is_none() { updated } else { 0 };
    let ready_all: i32 = v
        .mine
        .iter()
        .map(|r| count.of(r.metadata.name.as_deref().unwrap_or_default(), true))
        .sum();
    let unavail_allowed = if v.recreate() {
        0
    } else {
        percent(
            v.spec
                .strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_unavailable.as_ref()),
            replicas,
            "25%",
            false,
        )
    };
    let available = ready_all >= replicas - unavail_allowed;
    let complete = updated == replicas && ready_new == replicas && all == replicas;
    json!({
        "observedGeneration": d.metadata.generation.unwrap_or(1),
        "replicas": all, "updatedReplicas": updated, "readyReplicas": ready_all, "availableReplicas": ready_all,
        "unavailableReplicas": (replicas - ready_all).max(0),
        "conditions": [
            {"type": "Available", "status": if available { "True" } else { "False" },
             "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
             "message": if available { "Deployment has minimum availability." } else { "Deployment does not have minimum availability." }},
            {"type": "Progressing", "status": "True",
             "reason": if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" },
             "message": if complete { format!("ReplicaSet \"{rs_name}\" has successfully progressed.") } else { format!("ReplicaSet \"{rs_name}\" is progressing.") }},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::ready_removals;

    #[test]
    fn ready_old_pods_go_within_the_rollout_budget() {
        assert_eq!(ready_removals(2, 1, None), 1);
        assert_eq!(ready_removals(-1, 3, None), 0);
        assert_eq!(ready_removals(2, 5, None), 2);
    }

    #[test]
    fn a_spent_disruption_budget_holds_ready_old_pods_back() {
        // maxUnavailable would let two go; a PDB with minAvailable 3 of 3
        // allows none until a new pod is ready, then one.
        assert_eq!(ready_removals(2, 2, Some(0)), 0);
        assert_eq!(ready_removals(2, 2, Some(1)), 1);
        assert_eq!(ready_removals(1, 2, Some(4)), 1);
    }
}
