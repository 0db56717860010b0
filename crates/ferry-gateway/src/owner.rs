//! The gateway as the owner of its kinds in the runtime's object store:
//! validates the whole proposed set (nothing is stored if anything is wrong)
//! and swaps the compiled table in once the set is persisted.

use std::sync::Arc;

use ferry_core::error::Problems;
use ferry_core::objects::{GroupKind, KindOwner, StoredObject};

use crate::Gateway;

/// [`KindOwner`] for Ingress, HTTPRoute, Gateway, VirtualService, DestinationRule.
#[derive(Debug, Clone)]
pub struct GatewayKinds(pub Gateway);

impl KindOwner for GatewayKinds {
    fn kinds(&self) -> Vec<GroupKind> {
        crate::config::kinds()
    }

    fn validate(&self, proposed: &[Arc<StoredObject>]) -> Result<(), Problems> {
        self.0.validate(proposed)
    }

    fn update(&self, objects: Vec<Arc<StoredObject>>) {
        if let Err(problems) = self.0.apply(objects) {
            // Validated before persisting, so this means the set changed
            // underneath; keep the previous table and say why.
            tracing::error!(%problems, "gateway kept its previous routing");
        }
    }
}

impl Gateway {
    /// This gateway as the owner of its kinds.
    pub fn kind_owner(&self) -> Arc<dyn KindOwner> {
        Arc::new(GatewayKinds(self.clone()))
    }
}
