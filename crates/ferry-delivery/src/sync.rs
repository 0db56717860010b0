//! One sync of one application to one environment, as pure steps over a
//! [`Target`]: compare desired with live, apply what differs in dependency
//! order (all or nothing), prune what left git — only objects in ferry's
//! inventory that still carry ferry's label — and evaluate health.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::objects::StoredObject;
use serde::Serialize;

use crate::diff::{FieldDiff, diff};
use crate::error::Result;
use crate::health::{Health, assess, worst};
use crate::object::{LABEL_APP, LABEL_ENV, ObjKey, apply_rank, label};
use crate::target::Target;

/// The state of one object, as `ferry app get` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    pub key: ObjKey,
    /// `Synced`, `OutOfSync` or `Missing` (not on the target yet).
    pub sync: &'static str,
    pub health: Health,
    /// Why it is not Healthy (`ImagePullBackOff`, `ProgressDeadlineExceeded`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<FieldDiff>,
}

impl ObjectStatus {
    /// `Kind/name: reason: message`, for objects that are not Healthy.
    pub fn why(&self) -> Option<String> {
        let what = [self.reason.as_deref(), self.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        (!what.is_empty())
            .then(|| format!("{}/{}: {what}", self.key.group_kind.kind, self.key.name))
    }
}

/// Desired versus live for one app in one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub objects: Vec<ObjectStatus>,
    /// Inventory objects no longer in git (pruned on the next sync when
    /// prune is on).
    pub extra: Vec<ObjKey>,
}

impl Comparison {
    /// True when every desired object exists and matches, and nothing is extra.
    pub fn in_sync(&self) -> bool {
        self.objects.iter().all(|o| o.sync == "Synced") && self.extra.is_empty()
    }

    /// The application's health.
    pub fn health(&self) -> Health {
        worst(self.objects.iter().map(|o| o.health))
    }

    /// Keys of objects that must be (re-)applied.
    pub fn to_apply(&self) -> BTreeSet<&ObjKey> {
        self.objects
            .iter()
            .filter(|o| o.sync != "Synced")
            .map(|o| &o.key)
            .collect()
    }
}

/// Live objects of `app` in `env`, from a listing of everything ferry labelled.
pub fn live_of<'a>(
    all: &'a [StoredObject],
    app: &str,
    env: &str,
) -> BTreeMap<ObjKey, &'a StoredObject> {
    all.iter()
        .filter(|o| {
            label(&o.value, LABEL_APP) == Some(app) && label(&o.value, LABEL_ENV) == Some(env)
        })
        .map(|o| (ObjKey::of(o), o))
        .collect()
}

/// Compares desired objects with live ones.
pub fn compare(
    target: &dyn Target,
    desired: &[StoredObject],
    live: &BTreeMap<ObjKey, &StoredObject>,
    inventory: &[ObjKey],
) -> Comparison {
    let mut objects = Vec::with_capacity(desired.len());
    let wanted: BTreeSet<ObjKey> = desired.iter().map(ObjKey::of).collect();
    for d in desired {
        let key = ObjKey::of(d);
        let l = live.get(&key);
        let (sync, diffs) = match l {
            None => ("Missing", Vec::new()),
            Some(l) => {
                let diffs = diff(&d.value, &l.value);
                (
                    if diffs.is_empty() {
                        "Synced"
                    } else {
                        "OutOfSync"
                    },
                    diffs,
                )
            }
        };
        let value = l.map(|o| &o.value);
        let health = target.health(value);
        // The reason comes from the shared rules, shown when the target
        // agrees with them.
        let a = assess(value);
        let (reason, message) = if a.health == health {
            (a.reason, a.message)
        } else {
            (None, None)
        };
        objects.push(ObjectStatus {
            key,
            sync,
            health,
            reason,
            message,
            diff: diffs,
        });
    }
    let extra = inventory
        .iter()
        .filter(|k| !wanted.contains(*k) && live.contains_key(*k))
        .cloned()
        .collect();
    Comparison { objects, extra }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    pub applied: Vec<ObjKey>,
    pub pruned: Vec<ObjKey>,
    /// The new inventory: what ferry now owns in this environment.
    pub inventory: Vec<ObjKey>,
}

/// Applies what differs and, with `prune`, deletes what left git.
pub async fn sync(
    target: &dyn Target,
    desired: &[StoredObject],
    cmp: &Comparison,
    inventory: &[ObjKey],
    prune: bool,
) -> Result<SyncResult> {
    let todo = cmp.to_apply();
    let batch: Vec<StoredObject> = desired
        .iter()
        .filter(|o| todo.contains(&ObjKey::of(o)))
        .cloned()
        .collect();
    let applied: Vec<ObjKey> = batch.iter().map(ObjKey::of).collect();
    if !batch.is_empty() {
        target.apply(batch).await?;
    }
    let mut pruned = Vec::new();
    if prune && !cmp.extra.is_empty() {
        let mut gone = cmp.extra.clone();
        gone.sort_by_key(|k| std::cmp::Reverse(apply_rank(&k.group_kind)));
        target.delete(gone.clone()).await?;
        pruned = gone;
    }
    // Objects kept because prune is off stay in the inventory, so a later
    // sync with prune on can still remove them.
    let mut inv: BTreeSet<ObjKey> = desired.iter().map(ObjKey::of).collect();
    if !prune {
        inv.extend(inventory.iter().filter(|k| cmp.extra.contains(k)).cloned());
    }
    Ok(SyncResult {
        applied,
        pruned,
        inventory: inv.into_iter().collect(),
    })
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
