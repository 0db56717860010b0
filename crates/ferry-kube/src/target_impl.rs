//! [`KubeTarget`] behind the delivery engine's [`Target`] seam: apply with
//! the batch's app, environment and namespace (read from ferry's labels
//! when the engine passes none), list and delete through the ApplySet
//! inventory, server-side dry run, and the watch channel of changed keys.
//! Health is the engine's own rules (`ferry_delivery::health`).

use std::collections::BTreeSet;

use ferry_core::objects::StoredObject;
use ferry_delivery::object::ObjKey;
use ferry_delivery::target::{ApplyContext, BoxFuture, Target};
use tokio::sync::broadcast;

use crate::cluster::KubeTarget;
use crate::error::Error;

type DResult<T> = ferry_delivery::Result<T>;

fn context_of(objects: &[StoredObject]) -> Result<ApplyContext, Error> {
    ApplyContext::of_batch(objects).ok_or_else(|| Error::Invalid {
        object: objects
            .first()
            .map(|o| ObjKey::of(o).to_string())
            .unwrap_or_default(),
        message: "the batch carries no app.ferry.dev/name and app.ferry.dev/environment labels; \
                  ferry renders them, so apply through the engine"
            .into(),
    })
}

impl KubeTarget {
    /// A receiver of keys of ferry's objects that changed on the cluster.
    pub fn changes(&self) -> broadcast::Receiver<ObjKey> {
        self.watches.subscribe()
    }

    /// Kinds watched so far.
    pub fn watched_kinds(&self) -> Vec<ferry_core::objects::GroupKind> {
        self.watches.kinds()
    }
}

impl Target for KubeTarget {
    fn apply(&self, objects: Vec<StoredObject>) -> BoxFuture<'_, DResult<()>> {
        Box::pin(async move {
            if objects.is_empty() {
                return Ok(());
            }
            let ctx = context_of(&objects)?;
            self.apply_batch(&ctx, objects, false).await?;
            Ok(())
        })
    }

    fn apply_in(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, DResult<Vec<StoredObject>>> {
        Box::pin(async move { Ok(self.apply_batch(&ctx, objects, false).await?) })
    }

    fn dry_run(
        &self,
        ctx: ApplyContext,
        objects: Vec<StoredObject>,
    ) -> BoxFuture<'_, DResult<Vec<StoredObject>>> {
        Box::pin(async move { Ok(self.apply_batch(&ctx, objects, true).await?) })
    }

    fn dry_run_is_server_side(&self) -> bool {
        true
    }

    fn list(&self, key: &str, value: &str) -> BoxFuture<'_, DResult<Vec<StoredObject>>> {
        let (key, value) = (key.to_string(), value.to_string());
        Box::pin(async move { Ok(self.list_labelled(&key, &value).await?) })
    }

    fn delete(&self, keys: Vec<ObjKey>) -> BoxFuture<'_, DResult<()>> {
        Box::pin(async move { Ok(self.delete_checked(&keys).await?) })
    }

    fn namespaced(&self, gk: &ferry_core::objects::GroupKind) -> Option<bool> {
        self.discovery.namespaced(gk)
    }

    fn changes(&self) -> Option<broadcast::Receiver<ObjKey>> {
        Some(self.watches.subscribe())
    }

    fn pulls_images_itself(&self) -> bool {
        true
    }
}

/// Keys of a desired batch, for [`KubeTarget::prune`].
pub fn keys_of(objects: &[StoredObject]) -> BTreeSet<ObjKey> {
    objects.iter().map(ObjKey::of).collect()
}
