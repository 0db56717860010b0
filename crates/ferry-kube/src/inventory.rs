//! The ApplySet IO of [`KubeTarget`]: recording kinds and namespaces in an
//! app's parent Secret before its members are applied, listing members,
//! pruning those that left the desired set, and the checked delete the
//! engine uses — ferry deletes only objects whose part-of label names one
//! of ferry's own sets.

use std::collections::BTreeSet;

use ferry_core::objects::{GroupKind, StoredObject};
use ferry_delivery::object::{ObjKey, label};
use ferry_delivery::target::ApplyContext;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use serde_json::Value;

use crate::applyset::{ApplySet, ID_LABEL, PART_OF_LABEL, Recorded, prune_candidates, scope_of};
use crate::cluster::{FIELD_MANAGER, KubeTarget, is_not_found};
use crate::discovery::Served;
use crate::error::{Error, Result};
use crate::lean::{Lean, LeanList};
use crate::parents::Known;

impl KubeTarget {
    fn secrets(&self, namespace: Option<&str>) -> Api<Secret> {
        match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// The live parent of `set`, as JSON (`None`: not created yet).
    async fn parent(&self, set: &ApplySet) -> Result<Option<Value>> {
        let got = self
            .secrets(Some(&set.namespace))
            .get_metadata_opt(&set.name)
            .await
            .map_err(|e| Error::api(format!("get secret/{} in {}", set.name, set.namespace), e))?;
        Ok(got.map(|m| serde_json::json!({"metadata": m.metadata})))
    }

    /// What `set`'s parent records, refusing a set of another tool:
    /// from the parents cache when it knows (`cached`), else asked of the
    /// API server.
    async fn recorded(&self, set: &ApplySet, cached: bool) -> Result<(bool, Recorded)> {
        let known = if cached {
            self.parents.get(set)
        } else {
            Known::Unknown
        };
        let (exists, rec) = match known {
            Known::Present(rec) => (true, rec),
            Known::Absent => (false, Recorded::of(None, &set.namespace)),
            Known::Unknown => {
                let live = self.parent(set).await?;
                (live.is_some(), Recorded::of(live.as_ref(), &set.namespace))
            }
        };
        if let Some(tooling) = rec.foreign() {
            return Err(Error::ForeignApplySet {
                name: set.name.clone(),
                namespace: set.namespace.clone(),
                tooling: tooling.to_string(),
            });
        }
        Ok((exists, rec))
    }

    /// Adds kinds and namespaces to the parent (a superset, as the KEP asks
    /// before members are applied), creating it when missing.
    pub(crate) async fn record_in_parent(
        &self,
        set: &ApplySet,
        kinds: BTreeSet<GroupKind>,
        namespaces: BTreeSet<String>,
    ) -> Result<()> {
        let (exists, rec) = self.recorded(set, true).await?;
        if exists && kinds.is_subset(&rec.kinds) && namespaces.is_subset(&rec.namespaces) {
            return Ok(());
        }
        let kinds = rec.kinds.union(&kinds).cloned().collect();
        let namespaces = rec.namespaces.union(&namespaces).cloned().collect();
        self.write_parent(set, &kinds, &namespaces).await
    }

    async fn write_parent(
        &self,
        set: &ApplySet,
        kinds: &BTreeSet<GroupKind>,
        namespaces: &BTreeSet<String>,
    ) -> Result<()> {
        let parent = set.parent(kinds, namespaces);
        let written = self
            .secrets(Some(&set.namespace))
            .patch(
                &set.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&parent),
            )
            .await;
        match written {
            Ok(_) => {
                let rec = Recorded::of(Some(&parent), &set.namespace);
                self.parents.wrote(set, rec);
                Ok(())
            }
            Err(e) => {
                self.parents.forget(set);
                Err(Error::api(
                    format!("apply ApplySet parent secret/{}", set.name),
                    e,
                ))
            }
        }
    }

    /// Live objects of the kinds in `kinds` carrying `selector` (a label
    /// selector), across every namespace, asked of the API server.
    async fn list_kinds(&self, kinds: &BTreeSet<GroupKind>, selector: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for gk in kinds {
            let Some(served) = self.discovery.resolve_kind(&self.client, gk).await? else {
                continue; // a CRD removed since: nothing of that kind to list
            };
            self.watches.ensure(gk.clone(), served.clone());
            out.extend(self.list_kind(gk, &served, selector).await?);
        }
        Ok(out)
    }

    /// One kind's live objects carrying `selector`, parsed leanly
    /// (managedFields never allocated).
    async fn list_kind(
        &self,
        gk: &GroupKind,
        served: &Served,
        selector: &str,
    ) -> Result<Vec<Value>> {
        let what = || format!("list {gk} ({selector})");
        let api = self.api(served, None);
        let req = kube::core::Request::new(api.resource_url())
            .list(&ListParams::default().labels(selector))
            .map_err(|e| Error::api(what(), kube::Error::BuildRequest(e)))?;
        let list: LeanList = self
            .client
            .request(req)
            .await
            .map_err(|e| Error::api(what(), e))?;
        Ok(list
            .items
            .into_iter()
            .map(|Lean(mut v)| {
                v["apiVersion"] = Value::String(served.resource.api_version.clone());
                v["kind"] = Value::String(gk.kind.clone());
                v
            })
            .collect())
    }

    /// Objects of `kinds` whose `key` label is `value` (any when empty):
    /// from each kind's watch store when it can answer, else from the API
    /// server (a kind not watched yet, its first list not complete, its
    /// watch disconnected).
    async fn read_kinds(
        &self,
        kinds: &BTreeSet<GroupKind>,
        key: &str,
        value: &str,
    ) -> Result<Vec<Value>> {
        let selector = if value.is_empty() {
            key.to_string()
        } else {
            format!("{key}={value}")
        };
        let mut out = Vec::new();
        for gk in kinds {
            if let Some(cached) = self.watches.cached(gk, key, value) {
                out.extend(cached);
                continue;
            }
            let Some(served) = self.discovery.resolve_kind(&self.client, gk).await? else {
                continue;
            };
            self.watches.ensure(gk.clone(), served.clone());
            out.extend(self.list_kind(gk, &served, &selector).await?);
        }
        Ok(out)
    }

    /// Deletes from `ctx`'s ApplySet every member not in `keep` (objects of
    /// other sets or of none are never touched), then narrows the parent
    /// to `keep`'s kinds and namespaces. Returns what was deleted.
    pub async fn prune(&self, ctx: &ApplyContext, keep: &BTreeSet<ObjKey>) -> Result<Vec<ObjKey>> {
        let set = ApplySet::new(&ctx.app, &ctx.environment, &ctx.namespace);
        let (exists, rec) = self.recorded(&set, false).await?;
        if !exists {
            return Ok(Vec::new());
        }
        let id = set.id();
        let members = self
            .list_kinds(&rec.kinds, &format!("{PART_OF_LABEL}={id}"))
            .await?;
        let mut gone = prune_candidates(&id, &members, keep);
        ferry_delivery::order::sort_for_delete(&mut gone);
        for k in &gone {
            let live = members
                .iter()
                .find(|v| ObjKey::of_value(v).as_ref() == Some(k));
            self.delete_live(k, live.and_then(|v| v.pointer("/metadata/uid")?.as_str()))
                .await?;
        }
        let (kinds, mut namespaces) = scope_of(keep.iter());
        namespaces.insert(set.namespace.clone());
        self.write_parent(&set, &kinds, &namespaces).await?;
        Ok(gone)
    }

    /// Ids of every ApplySet ferry manages on this cluster, and the union
    /// of the kinds they record.
    async fn ferry_sets(&self) -> Result<(BTreeSet<String>, BTreeSet<GroupKind>)> {
        let what = "list ApplySet parents";
        let ticket = self.parents.begin_listing();
        // Metadata only (never a Secret's data), parsed leanly.
        let req = kube::core::Request::new(self.secrets(None).resource_url())
            .list_metadata(&ListParams::default().labels(ID_LABEL))
            .map_err(|e| Error::api(what, kube::Error::BuildRequest(e)))?;
        let parents: LeanList = self
            .client
            .request(req)
            .await
            .map_err(|e| Error::api(what, e))?;
        let (mut ids, mut kinds) = (BTreeSet::new(), BTreeSet::new());
        let mut listed = Vec::with_capacity(parents.items.len());
        for Lean(v) in parents.items {
            let meta = |f: &str| {
                v.pointer(&format!("/metadata/{f}"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let (ns, name) = (meta("namespace"), meta("name"));
            let rec = Recorded::of(Some(&v), &ns);
            if rec.tooling.is_some()
                && rec.foreign().is_none()
                && let Some(id) = label(&v, ID_LABEL)
            {
                ids.insert(id.to_string());
                kinds.extend(rec.kinds.iter().cloned());
            }
            listed.push(((ns, name), rec));
        }
        self.parents.listed(ticket, listed);
        Ok((ids, kinds))
    }

    /// Live objects of ferry's sets whose `key` label is `value` (any value
    /// when empty).
    pub async fn list_labelled(&self, key: &str, value: &str) -> Result<Vec<StoredObject>> {
        let (_, kinds) = self.ferry_sets().await?;
        let live = self.read_kinds(&kinds, key, value).await?;
        Ok(live
            .into_iter()
            .filter_map(|v| {
                let k = ObjKey::of_value(&v)?;
                Some(StoredObject {
                    group_kind: k.group_kind,
                    namespace: k.namespace,
                    name: k.name,
                    source: String::new(),
                    value: v,
                })
            })
            .collect())
    }

    /// Deletes objects the engine pruned — each only if its part-of label
    /// names one of ferry's sets (others are left, with a warning).
    pub async fn delete_checked(&self, keys: &[ObjKey]) -> Result<()> {
        let (ids, _) = self.ferry_sets().await?;
        for k in keys {
            let Some(served) = self
                .discovery
                .resolve_kind(&self.client, &k.group_kind)
                .await?
            else {
                continue;
            };
            let api = self.api(&served, k.namespace.as_deref());
            let Some(live) = api
                .get_opt(&k.name)
                .await
                .map_err(|e| Error::api(format!("get {k}"), e))?
            else {
                continue;
            };
            let labels = live.metadata.labels.clone().unwrap_or_default();
            if !labels.get(PART_OF_LABEL).is_some_and(|id| ids.contains(id)) {
                tracing::warn!(object = %k, "not a member of a ferry ApplySet; left in place");
                continue;
            }
            self.delete_live(k, live.metadata.uid.as_deref()).await?;
        }
        Ok(())
    }

    /// Deletes one object, only if it still has `uid` (so an object
    /// re-created by someone else meanwhile is not deleted).
    async fn delete_live(&self, k: &ObjKey, uid: Option<&str>) -> Result<()> {
        let Some(served) = self
            .discovery
            .resolve_kind(&self.client, &k.group_kind)
            .await?
        else {
            return Ok(());
        };
        let mut params = DeleteParams::background();
        if let Some(uid) = uid {
            params = params.preconditions(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            });
        }
        match self
            .api(&served, k.namespace.as_deref())
            .delete(&k.name, &params)
            .await
        {
            Ok(_) => {
                tracing::info!(object = %k, "pruned");
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(Error::api(format!("delete {k}"), e)),
        }
    }
}
