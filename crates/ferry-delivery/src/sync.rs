//! One sync of one application to one environment, as pure steps over a
//! [`Target`]: compare desired with live, apply what differs wave by wave
//! in dependency order (each wave all or nothing, the next once it is
//! healthy), prune what left git — only objects in ferry's
//! inventory that still carry ferry's label — and evaluate health.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::objects::StoredObject;
use serde::Serialize;

use crate::diff::{FieldDiff, diff, normalise, redact};
use crate::error::Result;
use crate::health::{Health, assess, worst};
use crate::object::{LABEL_APP, LABEL_ENV, ObjKey, label};
use crate::target::{ApplyContext, Target};

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
                let (group, kind) = (&key.group_kind.group, &key.group_kind.kind);
                let mut diffs = diff(
                    &normalise(group, kind, &d.value),
                    &normalise(group, kind, &l.value),
                );
                redact(group, kind, &mut diffs);
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
    /// Set when a wave was applied and the next one waits for it to become
    /// healthy: the sync goes on at a later pass (nothing pruned yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// Applies what differs, wave by wave (each wave all or nothing, in kind
/// order; a wave starts once every object of the previous one is
/// healthy), and with `prune`, once the last wave is applied, deletes
/// what left git.
pub async fn sync(
    target: &dyn Target,
    desired: &[StoredObject],
    cmp: &Comparison,
    inventory: &[ObjKey],
    prune: bool,
    force: bool,
) -> Result<SyncResult> {
    let todo = cmp.to_apply();
    // One context for every wave (read from the whole desired set, so a
    // wave of cluster-scoped objects names the same namespace as the rest).
    let ctx = ApplyContext::of_batch(desired).map(|c| ApplyContext { force, ..c });
    let waves = crate::order::waves(desired.to_vec());
    let last = waves.len().saturating_sub(1);
    let mut applied: Vec<ObjKey> = Vec::new();
    for (i, (wave, objects)) in waves.into_iter().enumerate() {
        let batch: Vec<StoredObject> = objects
            .iter()
            .filter(|o| todo.contains(&ObjKey::of(o)))
            .cloned()
            .collect();
        let changed = !batch.is_empty();
        applied.extend(batch.iter().map(ObjKey::of));
        if changed {
            match &ctx {
                Some(ctx) => drop(target.apply_in(ctx.clone(), batch).await?),
                None => target.apply(batch).await?,
            }
        }
        if i == last {
            break;
        }
        if let Some(w) = unhealthy(target, cmp, &objects, changed).await? {
            // Keep what was applied in the inventory, so it can be pruned
            // even if git drops it before the sync completes.
            let mut inv: BTreeSet<ObjKey> = desired.iter().map(ObjKey::of).collect();
            inv.extend(inventory.iter().cloned());
            return Ok(SyncResult {
                applied,
                pruned: Vec::new(),
                inventory: inv.into_iter().collect(),
                waiting: Some(format!("sync wave {wave}: waiting for {w}")),
            });
        }
    }
    let mut pruned = Vec::new();
    if prune && !cmp.extra.is_empty() {
        let mut gone = cmp.extra.clone();
        crate::order::sort_for_delete(&mut gone);
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
        waiting: None,
    })
}

/// The first object of a wave that is not Healthy (`Kind/name to become
/// healthy (Progressing)`), or `None`. A wave that changed nothing uses
/// the comparison's health; otherwise its objects are listed again.
async fn unhealthy(
    target: &dyn Target,
    cmp: &Comparison,
    wave: &[StoredObject],
    changed: bool,
) -> Result<Option<String>> {
    let keys: Vec<ObjKey> = wave.iter().map(ObjKey::of).collect();
    let healths: Vec<(ObjKey, Health)> = if changed {
        let Some(first) = wave.first() else {
            return Ok(None);
        };
        let app = label(&first.value, LABEL_APP).unwrap_or_default();
        let env = label(&first.value, LABEL_ENV).unwrap_or_default();
        let all = target.list(LABEL_APP, app).await?;
        let live = live_of(&all, app, env);
        keys.into_iter()
            .map(|k| {
                let h = target.health(live.get(&k).map(|o| &o.value));
                (k, h)
            })
            .collect()
    } else {
        cmp.objects
            .iter()
            .filter(|o| keys.contains(&o.key))
            .map(|o| (o.key.clone(), o.health))
            .collect()
    };
    Ok(healths
        .into_iter()
        .find(|(_, h)| *h != Health::Healthy)
        .map(|(k, h)| format!("{}/{} to become healthy ({h})", k.group_kind.kind, k.name)))
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
