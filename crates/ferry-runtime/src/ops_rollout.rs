//! The runtime's rollout verbs on stored objects: `rollout undo` (back to a
//! ReplicaSet's template), `rollout restart` (a template annotation) and
//! `scale` (Deployments and StatefulSets).

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use serde_json::{Value, json};

use crate::Runtime;
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::ops::not_found;
use crate::runtime::now;

impl Runtime {
    /// Rolls a Deployment back to `revision` (default: the previous one).
    pub fn rollout_undo(
        &self,
        namespace: &str,
        name: &str,
        revision: Option<i64>,
    ) -> Result<String> {
        let d = self
            .inner
            .get(Kind::Deployment, namespace, name)
            .ok_or_else(|| not_found(Kind::Deployment, namespace, name))?;
        let uid = d.value.pointer("/metadata/uid").cloned();
        let mut rss: Vec<(i64, Arc<StoredObject>)> = self
            .inner
            .list(Kind::ReplicaSet)
            .into_iter()
            .filter(|r| r.value.pointer("/metadata/ownerReferences/0/uid") == uid.as_ref())
            .map(|r| {
                let rev = r
                    .value
                    .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                (rev, r)
            })
            .collect();
        rss.sort_by_key(|(r, _)| *r);
        let target = match revision {
            Some(r) => rss.iter().find(|(rev, _)| *rev == r),
            None => rss.len().checked_sub(2).and_then(|i| rss.get(i)),
        }
        .ok_or_else(|| {
            Error::Other(format!(
                "deployment `{name}` has no {} to roll back to",
                revision.map_or("previous revision".into(), |r| format!("revision {r}"))
            ))
        })?;
        let mut tpl = target
            .1
            .value
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(l) = tpl
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            l.remove("pod-template-hash");
        }
        let mut v = d.value.clone();
        v["spec"]["template"] = tpl;
        v["metadata"]["generation"] = json!(v["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
        self.inner.commit(
            vec![StoredObject {
                value: v,
                ..(*d).clone()
            }],
            vec![],
        )?;
        Ok(format!(
            "deployment.apps/{name} rolled back to revision {}",
            target.0
        ))
    }

    /// Restarts a Deployment's pods with a rolling update.
    pub fn rollout_restart(&self, namespace: &str, name: &str) -> Result<()> {
        let d = self
            .inner
            .get(Kind::Deployment, namespace, name)
            .ok_or_else(|| not_found(Kind::Deployment, namespace, name))?;
        let mut v = d.value.clone();
        v["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
            json!(now());
        v["metadata"]["generation"] = json!(v["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
        self.inner.commit(
            vec![StoredObject {
                value: v,
                ..(*d).clone()
            }],
            vec![],
        )
    }

    /// Sets a Deployment's replicas.
    pub fn scale(&self, namespace: &str, name: &str, replicas: i32) -> Result<()> {
        self.scale_kind(Kind::Deployment, namespace, name, replicas)
    }

    /// Sets the replicas of a Deployment or StatefulSet (`kind`).
    pub fn scale_kind(&self, kind: Kind, namespace: &str, name: &str, replicas: i32) -> Result<()> {
        let d = self
            .inner
            .get(kind, namespace, name)
            .ok_or_else(|| not_found(kind, namespace, name))?;
        let mut v = d.value.clone();
        v["spec"]["replicas"] = json!(replicas.max(0));
        self.inner.commit(
            vec![StoredObject {
                value: v,
                ..(*d).clone()
            }],
            vec![],
        )
    }
}
