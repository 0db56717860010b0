//! The runtime's operations behind the API and CLI verbs: apply, get (with
//! live pod status), delete (graceful for pods, cascading for Deployments
//! and Namespaces), events; logs and exec are in `ops_exec.rs`, rollout
//! undo/restart and scale in `ops_rollout.rs`.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use ferry_core::sync::{MutexExt, RwLockExt};
use ferry_core::{Problem, Problems};
use k8s_openapi::api::core::v1::PodCondition;
use serde_json::Value;

use crate::apply::{self, Outcome};
use crate::deploy::mark_deleted;
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::runtime::{Event, now};
use crate::services::pod_ready;
use crate::store::Key;
use crate::{Runtime, services};

pub(crate) fn not_found(kind: Kind, ns: &str, name: &str) -> Error {
    Error::NotFound {
        kind: kind.name().to_string(),
        namespace: ns.to_string(),
        name: name.to_string(),
    }
}

/// Whether `who` may write the object at `key`.
fn in_scope(who: &ferry_api::Identity, key: &Key) -> Result<()> {
    let kind = &key.group_kind.kind;
    let denied = |where_: String| {
        Err(Error::Forbidden(format!(
            "token `{}` is limited to namespaces {}; {kind} `{}` is {where_}",
            who.name,
            who.namespaces.join(", "),
            key.name
        )))
    };
    match key.namespace.as_str() {
        "" if kind == "Namespace" && who.allows_namespace(&key.name) => Ok(()),
        "" if who.is_scoped() => denied("cluster-scoped".to_string()),
        "" => Ok(()),
        ns if who.allows_namespace(ns) => Ok(()),
        ns => denied(format!("in namespace `{ns}`")),
    }
}

impl Runtime {
    /// Validates every document of `sources` (`(file, text)`) and, only if
    /// all are valid (kind owners agreeing), stores them in one transaction.
    pub fn apply(&self, sources: &[(String, String)]) -> Result<Vec<Outcome>> {
        self.apply_in(sources, None, None)
    }

    /// [`Runtime::apply`] on behalf of `who`, with `kubectl apply -n NS`'s
    /// namespace: objects without `metadata.namespace` go into `namespace`;
    /// nothing is stored unless every object lies in a namespace the
    /// caller's token reaches (a token limited to namespaces may write
    /// cluster-scoped objects only as the Namespace objects of its own).
    pub fn apply_in(
        &self,
        sources: &[(String, String)],
        namespace: Option<&str>,
        who: Option<&ferry_api::Identity>,
    ) -> Result<Vec<Outcome>> {
        let inner = &self.inner;
        let owners = inner.owners.read_or_recover().clone();
        let planned = apply::plan_in(sources, namespace, &owners, &inner.namespace_levels())
            .map_err(Error::Invalid)?;
        match who {
            Some(ferry_api::Identity {
                service_account: Some(sa),
                ..
            }) => crate::accounts::authorize_apply(inner, sa, &planned)?,
            Some(who) => planned.iter().try_for_each(|p| in_scope(who, &p.key))?,
            None => {}
        }
        let current: Vec<Arc<StoredObject>> = inner
            .objects
            .lock_or_recover()
            .map
            .values()
            .cloned()
            .collect();
        let stamp = now();
        let mut puts = Vec::new();
        let mut outcomes = Vec::new();
        let mut problems = Problems::default();
        for p in &planned {
            let old = current.iter().find(|o| Key::of(o) == p.key);
            if let (Some(kind), Some(o)) = (p.kind, old)
                && let Some((path, message)) =
                    crate::validate_update::forbidden(kind, &o.value, &p.value)
            {
                let (file, doc) = p
                    .source
                    .rsplit_once(" document ")
                    .unwrap_or((&p.source, ""));
                let mut problem = Problem::file(file, message);
                problem.document = doc.parse().ok();
                problem.object = Some(format!("{}/{}", kind.name(), p.key.name));
                problem.path = Some(path.into());
                problems.push(problem);
            }
            let (obj, action) = apply::merge(p, old.map(|o| &**o), 0, &stamp);
            outcomes.push(Outcome {
                object: p.key.to_string(),
                namespace: (!p.key.namespace.is_empty()).then(|| p.key.namespace.clone()),
                action: action.into(),
            });
            if action != "unchanged" {
                puts.push(obj);
            }
        }
        crate::quota_ctl::admit_apply(inner, &current, &mut puts, &mut problems);
        // Owners validate their whole proposed set.
        for owner in &owners {
            let kinds: std::collections::BTreeSet<_> = owner.kinds().into_iter().collect();
            let mut proposed: Vec<Arc<StoredObject>> = current
                .iter()
                .filter(|o| {
                    kinds.contains(&o.group_kind)
                        && !puts.iter().any(|p: &StoredObject| Key::of(p) == Key::of(o))
                })
                .cloned()
                .collect();
            proposed.extend(
                puts.iter()
                    .filter(|p| kinds.contains(&p.group_kind))
                    .cloned()
                    .map(Arc::new),
            );
            if puts.iter().any(|p| kinds.contains(&p.group_kind))
                && let Err(found) = owner.validate(&proposed)
            {
                found.0.into_iter().for_each(|p| problems.push(p));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        if !puts.is_empty() {
            inner.commit(puts, vec![])?;
        }
        Ok(outcomes)
    }

    /// Objects of `kind` in `namespace` (`None`: all), pods with live status.
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
        self.inner
            .list(kind)
            .iter()
            .filter(|o| {
                namespace.is_none() || !kind.namespaced() || o.namespace.as_deref() == namespace
            })
            .map(|o| self.render(kind, o))
            .collect()
    }

    /// One object, pods with live status.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Value> {
        let o = self
            .inner
            .get(kind, namespace, name)
            .ok_or_else(|| not_found(kind, namespace, name))?;
        Ok(self.render(kind, &o))
    }

    fn render(&self, kind: Kind, o: &StoredObject) -> Value {
        let mut v = o.value.clone();
        // A pod the scheduler holds back shows the status it stored.
        let held = v.pointer("/spec/nodeName").is_none() && v.get("status").is_some();
        if kind == Kind::Pod
            && !held
            && let Some(uid) = v.pointer("/metadata/uid").and_then(Value::as_str)
        {
            let rt = self.inner.pod_rt(uid);
            let rt = rt.lock_or_recover();
            let mut st = rt.status.clone();
            let ready = !rt.terminating && pod_ready(&st);
            let running = st
                .container_statuses
                .iter()
                .flatten()
                .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
            let policy = v.pointer("/spec/restartPolicy").and_then(Value::as_str);
            if let Some(done) = crate::job::finished_phase(policy, &st) {
                st.phase = Some(done.into());
            } else {
                st.phase = Some(
                    if running && st.container_statuses.is_some() {
                        "Running"
                    } else {
                        "Pending"
                    }
                    .into(),
                );
            }
            st.pod_ip = Some("127.0.0.1".into());
            st.host_ip = Some("127.0.0.1".into());
            st.conditions = Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]);
            v["status"] = serde_json::to_value(st).unwrap_or(Value::Null);
        }
        v
    }

    /// Deletes an object: pods terminate gracefully, Deployments take their
    /// ReplicaSets and pods along, a Namespace everything in it.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Result<()> {
        let inner = &self.inner;
        let obj = inner
            .get(kind, namespace, name)
            .ok_or_else(|| not_found(kind, namespace, name))?;
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        match kind {
            // Claims and volumes wait for their pods (pvc- and pv-protection).
            Kind::Pod | Kind::PersistentVolumeClaim | Kind::PersistentVolume => {
                puts.push(mark_deleted(&obj))
            }
            Kind::Namespace => {
                let all: Vec<Arc<StoredObject>> = inner
                    .objects
                    .lock_or_recover()
                    .map
                    .values()
                    .cloned()
                    .collect();
                for o in all.iter().filter(|o| o.namespace.as_deref() == Some(name)) {
                    let waits = [Kind::Pod, Kind::PersistentVolumeClaim].map(Kind::group_kind);
                    if waits.contains(&o.group_kind) {
                        puts.push(mark_deleted(o));
                    } else {
                        deletes.push(Key::of(o));
                    }
                }
                deletes.push(Key::of(&obj));
            }
            // ReplicaSets of a deleted Deployment, and their pods, are
            // removed by the controller as orphans.
            _ => deletes.push(Key::of(&obj)),
        }
        if kind == Kind::ReplicaSet {
            let uid = obj.value.pointer("/metadata/uid").cloned();
            for p in inner.list(Kind::Pod) {
                if p.value.pointer("/metadata/ownerReferences/0/uid") == uid.as_ref() {
                    puts.push(mark_deleted(&p));
                }
            }
        }
        inner.commit(puts, deletes)
    }

    /// Events, optionally of one namespace and object (`Kind/name`).
    pub fn events(&self, namespace: Option<&str>, object: Option<&str>) -> Vec<Event> {
        let ev = self.inner.events.lock_or_recover();
        ev.iter()
            .filter(|e| namespace.is_none_or(|n| e.namespace == n))
            .filter(|e| object.is_none_or(|o| e.object.eq_ignore_ascii_case(o)))
            .cloned()
            .collect()
    }

    /// Publishes the Service snapshot now (used after bulk changes).
    pub fn refresh(&self) {
        services::publish(&self.inner);
    }
}
