//! What the engine reports: per application and environment, the desired
//! and synced revision, sync state, health, objects with their diffs, and
//! why it is waiting or failing.

use serde::Serialize;

use crate::health::Health;
use crate::sync::ObjectStatus;

/// Sync state of an application in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyncState {
    Synced,
    OutOfSync,
    Unknown,
}

/// One application in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvStatus {
    pub environment: String,
    pub region: String,
    pub namespace: String,
    /// The git ref followed (`master`, `dev`, `feature/x`, `v1.2.0`).
    pub git_ref: String,
    /// The commit git asks for, once fetched.
    pub desired_revision: Option<String>,
    /// The commit last synced successfully.
    pub synced_revision: Option<String>,
    pub sync: SyncState,
    pub health: Health,
    /// Images of the last successful sync.
    pub images: Vec<String>,
    /// Why the engine is not syncing (gate, missing image, dependency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The last error (bad manifest with file/document/field, unreachable
    /// remote, target failure); the previous revision keeps running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ephemeral: bool,
    pub objects: Vec<ObjectStatus>,
}

/// An application across its environments.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub name: String,
    pub repo_url: String,
    pub path: String,
    /// Fetch problem of the repository (retried with back-off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_error: Option<String>,
    pub environments: Vec<EnvStatus>,
}

impl AppStatus {
    /// The worst health over environments.
    pub fn health(&self) -> Health {
        crate::health::worst(self.environments.iter().map(|e| e.health))
    }

    /// Synced when every environment is.
    pub fn sync(&self) -> SyncState {
        if self
            .environments
            .iter()
            .all(|e| e.sync == SyncState::Synced)
        {
            SyncState::Synced
        } else if self
            .environments
            .iter()
            .any(|e| e.sync == SyncState::OutOfSync)
        {
            SyncState::OutOfSync
        } else {
            SyncState::Unknown
        }
    }
}
