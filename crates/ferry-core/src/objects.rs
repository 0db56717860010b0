//! Stored objects of any kind, and the contract by which the component that
//! owns a kind validates and receives it.
//!
//! `ferry apply` hands every document to the runtime's object store. Kinds
//! the runtime runs itself (Deployment, Service…) it handles; for every other
//! kind it asks the registered [`KindOwner`] (the gateway owns Ingress,
//! HTTPRoute, VirtualService…) to validate the *whole proposed set* of its
//! objects before anything is persisted, so a bad object rejects the apply
//! and the previous configuration stays in force. After persisting, the
//! owner gets the new set. A kind no one owns is an error naming it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Problems;

/// API group (empty for the core group) and kind, e.g. `("networking.istio.io", "VirtualService")`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    /// Builds a `GroupKind`.
    pub fn new(group: &str, kind: &str) -> Self {
        Self {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }

    /// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
    pub fn of(api_version: &str, kind: &str) -> Self {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Self::new(group, kind)
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// An object as stored: its identity and its full JSON (metadata included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredObject {
    pub group_kind: GroupKind,
    pub namespace: Option<String>,
    pub name: String,
    /// Where it came from (file and document), for error messages.
    pub source: String,
    pub value: Value,
}

/// A component that owns some kinds stored by the runtime.
pub trait KindOwner: Send + Sync + fmt::Debug {
    /// The kinds it owns.
    fn kinds(&self) -> Vec<GroupKind>;

    /// Checks the complete proposed set of its objects (as they would be
    /// after the apply). Problems name the object's source and field.
    fn validate(&self, proposed: &[Arc<StoredObject>]) -> Result<(), Problems>;

    /// Receives the complete set after it was persisted.
    fn update(&self, objects: Vec<Arc<StoredObject>>);
}
