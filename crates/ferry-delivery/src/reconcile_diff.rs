//! `ferry app diff`: a fresh comparison on request, not the one the last
//! pass stored. Each environment's objects are rendered at its desired
//! revision by the reconcile's own steps (rollback pin, image tags,
//! render), sent through the target's dry run — server-side apply with
//! `dryRun=All` on Kubernetes, so the server's defaults, admission and
//! field ownership are in the answer — and compared with the live objects
//! through [`crate::diff`]'s normalisation, Secret values masked. A fleet
//! (a `clusterSelector` matching several clusters) is compared cluster by
//! cluster. Nothing is applied and nothing is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_core::app_spec::Application;
use ferry_core::objects::StoredObject;
use serde::Serialize;

use super::pin_rollback;
use crate::change::{Change, object_lines};
use crate::diff::{diff, diff_full, normalise, redact};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::object::{LABEL_APP, ObjKey};
use crate::plan::{Instance, instances};
use crate::source::normalise_url;
use crate::sync::live_of;
use crate::target::{ApplyContext, Target};

/// What differs in one environment (on one cluster of a fleet).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvDiff {
    pub environment: String,
    /// The commit compared (the desired revision, or a rollback's pin).
    pub revision: Option<String>,
    /// The cluster, for an environment delivering to a fleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `server` when the target dry-ran the objects, else `none` (git's
    /// fields compared with live as the sync does).
    pub dry_run: &'static str,
    /// The objects that differ; empty when everything matches.
    pub objects: Vec<ObjectDiff>,
    /// Why there is nothing to compare (no commit, a render or dry-run
    /// failure naming file, document and field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDiff {
    /// `Kind.group/namespace/name` (`Kind/namespace/name` in the core group).
    pub object: String,
    /// `OutOfSync`, `Missing` (not on the target) or `Extra` (applied by
    /// ferry, no longer in git: pruned by a sync with prune on).
    pub sync: &'static str,
    /// The fields that differ, Secret values masked (none for `Missing`
    /// and `Extra`).
    pub changes: Vec<Change>,
    /// Why an object without changes is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the diff says of an `Extra` object.
const EXTRA_NOTE: &str = "not in git: a sync with prune on deletes it";

impl ObjectDiff {
    /// The CLI's text of the object's differences
    /// ([`crate::change::object_lines`]).
    pub fn lines(&self) -> Vec<String> {
        object_lines(&self.changes, self.note.as_deref())
    }
}

impl Engine {
    /// Compares application `app` in every environment (or only `env`)
    /// afresh: see the module's documentation.
    pub async fn live_diff(&self, app: &str, env: Option<&str>) -> Result<Vec<EnvDiff>> {
        let a = self.app(app)?;
        let url = normalise_url(&a.spec.source.repo_url);
        let refs = self.lock().repos.get(&url).and_then(|r| r.refs.clone());
        let insts: Vec<Instance> = instances(&self.inner.topology, a, refs.as_ref())
            .into_iter()
            .filter(|i| env.is_none_or(|e| e == i.env))
            .collect();
        if let Some(e) = env
            && insts.is_empty()
        {
            return Err(Error::NotFound {
                kind: "environment (of this application)",
                name: e.to_string(),
            });
        }
        let mut out = Vec::new();
        for inst in &insts {
            out.extend(self.env_diff(a, inst).await);
        }
        Ok(out)
    }

    /// One environment: one entry, or one per cluster of a fleet.
    async fn env_diff(&self, app: &Application, inst: &Instance) -> Vec<EnvDiff> {
        let name = &app.metadata.name;
        let mut base = EnvDiff {
            environment: inst.env.clone(),
            dry_run: "none",
            ..EnvDiff::default()
        };
        let failed = |mut d: EnvDiff, e: String| {
            d.error = Some(e);
            vec![d]
        };
        let snap = self.snapshot(name, inst);
        let Some(region) = snap.region else {
            let e = format!("region `{}` is not attached to the engine", inst.region);
            return failed(base, e);
        };
        let (mut inst, _) = pin_rollback(&snap.rec, inst);
        let Some(commit) = inst.commit.clone() else {
            let e = match inst.git_ref.as_str() {
                "" => "the repository is not fetched yet".to_string(),
                r => format!("`{r}` does not exist in the repository (or it is not fetched yet)"),
            };
            return failed(base, e);
        };
        base.revision = Some(commit.clone());
        if let Err(e) = self.resolve_image_tags(app, &mut inst, &commit).await {
            return failed(base, format!("cannot tell which images changed: {e}"));
        }
        let desired = match self.render_instance(app, &inst, &commit, &region).await {
            Ok(d) => d,
            Err(e) => return failed(base, e.to_string()),
        };
        let inventory = snap
            .rec
            .inventory
            .get(&inst.env)
            .cloned()
            .unwrap_or_default();
        let members = region.target.members();
        let targets: Vec<(Option<String>, Arc<dyn Target>)> = if members.is_empty() {
            vec![(None, region.target.clone())]
        } else {
            members.into_iter().map(|(n, t)| (Some(n), t)).collect()
        };
        let mut out = Vec::with_capacity(targets.len());
        for (cluster, target) in targets {
            let mut d = EnvDiff {
                cluster,
                ..base.clone()
            };
            let at = Place {
                app: name,
                env: &inst.env,
                inventory: &inventory,
            };
            match preview(target.as_ref(), &at, &desired).await {
                Ok(objects) => {
                    d.objects = objects;
                    if target.dry_run_is_server_side() {
                        d.dry_run = "server";
                    }
                }
                Err(e) => d.error = Some(e.to_string()),
            }
            out.push(d);
        }
        out
    }
}

/// Which app and environment a comparison is for, and what ferry applied
/// there.
struct Place<'a> {
    app: &'a str,
    env: &'a str,
    inventory: &'a [ObjKey],
}

/// Lists the live objects, dry-runs the desired ones and compares. The dry
/// run forces field ownership, as a sync of a kubectl edit takes the
/// fields back: the answer is what a sync would leave.
async fn preview(
    target: &dyn Target,
    at: &Place<'_>,
    desired: &[StoredObject],
) -> Result<Vec<ObjectDiff>> {
    let all = target.list(LABEL_APP, at.app).await?;
    let live = live_of(&all, at.app, at.env);
    let dry = match ApplyContext::of_batch(desired) {
        Some(ctx) if !desired.is_empty() => {
            let ctx = ApplyContext { force: true, ..ctx };
            target.dry_run(ctx, desired.to_vec()).await?
        }
        _ => desired.to_vec(),
    };
    let dry: BTreeMap<ObjKey, StoredObject> =
        dry.into_iter().map(|o| (ObjKey::of(&o), o)).collect();
    let full = target.dry_run_is_server_side();
    Ok(changes(desired, &dry, &live, at.inventory, full))
}

/// What differs (pure): each desired object — as the dry run answered it,
/// else as rendered — against its live copy (`full`: the dry run's answer
/// is the whole object, so fields only live has count too), then the
/// inventory's objects git no longer has.
pub(crate) fn changes(
    desired: &[StoredObject],
    dry: &BTreeMap<ObjKey, StoredObject>,
    live: &BTreeMap<ObjKey, &StoredObject>,
    inventory: &[ObjKey],
    full: bool,
) -> Vec<ObjectDiff> {
    let mut out = Vec::new();
    for d in desired {
        let key = ObjKey::of(d);
        let want = dry.get(&key).map_or(&d.value, |o| &o.value);
        let Some(l) = live.get(&key) else {
            out.push(ObjectDiff {
                object: key.to_string(),
                sync: "Missing",
                changes: Vec::new(),
                note: None,
            });
            continue;
        };
        let (group, kind) = (&key.group_kind.group, &key.group_kind.kind);
        let (want, have) = (
            normalise(group, kind, want),
            normalise(group, kind, &l.value),
        );
        let mut fields = if full {
            diff_full(&want, &have)
        } else {
            diff(&want, &have)
        };
        redact(group, kind, &mut fields);
        if !fields.is_empty() {
            out.push(ObjectDiff {
                object: key.to_string(),
                sync: "OutOfSync",
                changes: fields.into_iter().map(Change::from).collect(),
                note: None,
            });
        }
    }
    let wanted: Vec<ObjKey> = desired.iter().map(ObjKey::of).collect();
    for k in inventory {
        if !wanted.contains(k) && live.contains_key(k) {
            out.push(ObjectDiff {
                object: k.to_string(),
                sync: "Extra",
                changes: Vec::new(),
                note: Some(EXTRA_NOTE.into()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::objects::GroupKind;
    use serde_json::{Value, json};

    fn obj(kind: &str, name: &str, value: Value) -> StoredObject {
        StoredObject {
            group_kind: GroupKind::new("", kind),
            namespace: Some("dev".into()),
            name: name.into(),
            source: "k.yaml".into(),
            value,
        }
    }

    fn keyed(objs: &[StoredObject]) -> BTreeMap<ObjKey, StoredObject> {
        objs.iter().map(|o| (ObjKey::of(o), o.clone())).collect()
    }

    #[test]
    fn defaults_in_the_dry_run_match_and_edits_missing_and_extra_objects_show() {
        let git = obj("Service", "web", json!({"spec": {"ports": [{"port": 80}]}}));
        let dry = obj(
            "Service",
            "web",
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "type": "ClusterIP"}}),
        );
        let live = obj(
            "Service",
            "web",
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "type": "ClusterIP"}, "status": {}}),
        );
        let gone = obj("ConfigMap", "old", json!({"data": {"a": "b"}}));
        let cm = obj("ConfigMap", "new", json!({"data": {"a": "b"}}));
        let live_map: BTreeMap<ObjKey, &StoredObject> =
            [(ObjKey::of(&live), &live), (ObjKey::of(&gone), &gone)].into();
        let inv = [ObjKey::of(&gone), ObjKey::of(&git)];
        let d = changes(
            &[git.clone(), cm.clone()],
            &keyed(std::slice::from_ref(&dry)),
            &live_map,
            &inv,
            true,
        );
        let got: Vec<(&str, &str)> = d.iter().map(|o| (o.object.as_str(), o.sync)).collect();
        assert_eq!(
            got,
            [
                ("ConfigMap/dev/new", "Missing"),
                ("ConfigMap/dev/old", "Extra")
            ],
            "the Service's defaults match"
        );
        // kubectl edit: the type changed on the server.
        let mut edited = live.clone();
        edited.value["spec"]["type"] = json!("NodePort");
        let live_map: BTreeMap<ObjKey, &StoredObject> = [(ObjKey::of(&edited), &edited)].into();
        let d = changes(&[git], &keyed(&[dry]), &live_map, &[], true);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].lines(), ["spec.type: NodePort → ClusterIP"]);
    }

    #[test]
    fn secrets_are_masked_and_a_target_without_dry_run_compares_gits_fields() {
        let git = obj("Secret", "db", json!({"data": {"password": "bmV3"}}));
        let live = obj(
            "Secret",
            "db",
            json!({"data": {"password": "b2xk"}, "type": "Opaque"}),
        );
        let live_map: BTreeMap<ObjKey, &StoredObject> = [(ObjKey::of(&live), &live)].into();
        let d = changes(
            std::slice::from_ref(&git),
            &BTreeMap::new(),
            &live_map,
            &[],
            false,
        );
        assert_eq!(d[0].lines(), ["data.password: ++++++++ → ++++++++"]);
        assert!(!format!("{d:?}").contains("bmV3"));
    }
}
