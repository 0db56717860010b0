//! [`FleetTarget`]: one [`Target`] over several clusters, for an
//! environment whose `clusterSelector` matches more than one (like an Argo
//! CD ApplicationSet's cluster generator), so the engine syncs a fleet as
//! it syncs one cluster. Applies and deletes go to every member at once
//! (an error names the cluster); lists are folded into one by
//! [`crate::fleet_merge`] (missing anywhere is Missing, a field that
//! differs between clusters is OutOfSync, the worst status wins); changes
//! of every member wake the engine; `ferry app diff` compares member by
//! member through [`Target::members`].

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use futures_util::future::join_all;
use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::object::ObjKey;
use crate::target::{ApplyContext, BoxFuture, Target};

/// Several clusters as one target.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    members: Vec<(String, Arc<dyn Target>)>,
}

impl FleetTarget {
    /// A fleet of `members` (cluster name, target), in a stable order.
    pub fn new(members: Vec<(String, Arc<dyn Target>)>) -> Self {
        Self { members }
    }

    /// Runs `op` on every member at once; the first failure, naming its
    /// cluster, else every member's answer in member order.
    async fn each<'a, T, F>(&'a self, op: F) -> Result<Vec<T>>
    where
        F: Fn(&'a dyn Target) -> BoxFuture<'a, Result<T>>,
    {
        let runs = self.members.iter().map(|(_, t)| op(t.as_ref()));
        let mut out = Vec::with_capacity(self.members.len());
        for ((name, _), r) in self.members.iter().zip(join_all(runs).await) {
            out.push(r.map_err(|e| on_cluster(name, e))?);
        }
        Ok(out)
    }
}

/// `e` naming the cluster it happened on (a conflict stays a conflict).
fn on_cluster(name: &str, e: Error) -> Error {
    match e {
        Error::Conflict(m) => Error::Conflict(format!("cluster `{name}`: {m}")),
        Error::Target(m) => Error::Target(format!("cluster `{name}`: {m}")),
        other => Error::Target(format!("cluster `{name}`: {other}")),
    }
}

impl Target for FleetTarget {
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.each(|t| t.apply(objects.clone())).await?;
            Ok(())
        })
    }

    fn apply_in(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        Box::pin(async move {
            let all = self
                .each(|t| t.apply_in(ctx.clone(), objects.clone()))
                .await?;
            Ok(all.into_iter().next().unwrap_or_default())
        })
    }

    fn dry_run(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        Box::pin(async move {
            let all = self
                .each(|t| t.dry_run(ctx.clone(), objects.clone()))
                .await?;
            Ok(all.into_iter().next().unwrap_or_default())
        })
    }

    fn dry_run_is_server_side(&self) -> bool {
        self.members.iter().all(|(_, t)| t.dry_run_is_server_side())
    }

    fn pulls_images_itself(&self) -> bool {
        self.members.iter().any(|(_, t)| t.pulls_images_itself())
    }

    /// What the members' discovery says, when they agree.
    fn namespaced(&self, gk: &ferry_core::objects::GroupKind) -> Option<bool> {
        let mut answers = self.members.iter().filter_map(|(_, t)| t.namespaced(gk));
        let first = answers.next()?;
        answers.all(|a| a == first).then_some(first)
    }

    fn list(&self, key: &str, value: &str) -> BoxFuture<'_, Result<Vec<StoredObject>>> {
        let (key, value) = (key.to_string(), value.to_string());
        Box::pin(async move {
            let lists = self.each(|t| t.list(&key, &value)).await?;
            Ok(crate::fleet_merge::merge(&lists))
        })
    }

    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.each(|t| t.delete(keys.clone())).await?;
            Ok(())
        })
    }

    fn members(&self) -> Vec<(String, Arc<dyn Target>)> {
        self.members.clone()
    }

    /// One channel fed by every member's; each forwarder ends when the
    /// receiver is dropped or its member's channel closes.
    fn changes(&self) -> Option<broadcast::Receiver<ObjKey>> {
        let sources: Vec<_> = self
            .members
            .iter()
            .filter_map(|(_, t)| t.changes())
            .collect();
        let rt = tokio::runtime::Handle::try_current().ok()?;
        if sources.is_empty() {
            return None;
        }
        let (tx, rx) = broadcast::channel(1024);
        for mut source in sources {
            let tx = tx.clone();
            rt.spawn(async move {
                use broadcast::error::RecvError;
                loop {
                    match source.recv().await {
                        Ok(key) => {
                            if tx.send(key).is_err() {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{LABEL_APP, LABEL_ENV, set_label};
    use crate::target::MemoryTarget;
    use ferry_core::objects::GroupKind;
    use serde_json::json;

    fn cm(value: &str) -> StoredObject {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "dev"}, "data": {"k": value}});
        set_label(&mut v, LABEL_APP, "web");
        set_label(&mut v, LABEL_ENV, "dev");
        StoredObject {
            group_kind: GroupKind::new("", "ConfigMap"),
            namespace: Some("dev".into()),
            name: "cfg".into(),
            source: String::new(),
            value: v,
        }
    }

    fn fleet() -> (FleetTarget, MemoryTarget, MemoryTarget) {
        let (a, b) = (MemoryTarget::new(), MemoryTarget::new());
        let members: Vec<(String, Arc<dyn Target>)> = vec![
            ("eu".into(), Arc::new(a.clone())),
            ("cn".into(), Arc::new(b.clone())),
        ];
        (FleetTarget::new(members), a, b)
    }

    #[tokio::test]
    async fn applies_and_deletes_reach_every_cluster_and_lists_fold_into_one() {
        let (f, a, b) = fleet();
        f.apply(vec![cm("v")]).await.unwrap();
        assert_eq!((a.all().len(), b.all().len()), (1, 1));
        let live = f.list(LABEL_APP, "web").await.unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].value["data"]["k"], "v");

        b.put(cm("edited"));
        let live = f.list(LABEL_APP, "").await.unwrap();
        assert_eq!(live[0].value["data"]["k"], crate::fleet_merge::DIFFERS);

        f.delete(vec![ObjKey::of(&cm("v"))]).await.unwrap();
        assert!(a.all().is_empty() && b.all().is_empty());
        assert_eq!(f.members().len(), 2);
        assert!(!f.dry_run_is_server_side());
    }

    #[tokio::test]
    async fn a_failure_names_the_cluster() {
        let (f, _a, b) = fleet();
        b.fail_applies(Some("quota exceeded"));
        let e = f.apply(vec![cm("v")]).await.unwrap_err();
        assert_eq!(e.to_string(), "target: cluster `cn`: quota exceeded");
    }
}
