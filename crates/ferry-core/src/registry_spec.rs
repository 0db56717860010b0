//! `spec.registry` of a `Region`: who may use the region's OCI registry and
//! where it sends webhooks. Secrets are stored hashed (argon2 PHC strings,
//! made with `ferry registry hash-secret`); nothing here is ever logged.

use serde::{Deserialize, Serialize};

/// Registry settings of one region; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrySpec {
    /// Let clients without credentials pull (push and delete still need a
    /// token). Only meaningful when users or robots are declared; with none,
    /// the registry is open.
    #[serde(default)]
    pub anonymous_pull: bool,
    /// People: `name` plus an argon2 `secretHash` of their password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<RegistryAccount>,
    /// Robot accounts for CI and replication; they log in as `robot$<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robots: Vec<RegistryAccount>,
    /// Serve HTTPS with this certificate and key (PEM files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RegistryTls>,
    /// Where to POST CloudEvents for pushes and deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<RegistryWebhook>,
}

/// A user or robot account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryAccount {
    pub name: String,
    /// An argon2 PHC string (`$argon2id$v=19$...`).
    pub secret_hash: String,
    /// What the account may do, by repository glob (`myhero/*`, `**`).
    #[serde(default)]
    pub permissions: Vec<RegistryPermission>,
}

/// Actions granted on the repositories matching `repositories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryPermission {
    /// A glob over repository names; `*` stays within one path segment,
    /// `**` crosses them.
    pub repositories: String,
    /// Any of `pull`, `push`, `delete`.
    pub actions: Vec<RegistryAction>,
}

/// One registry action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RegistryAction {
    Pull,
    Push,
    Delete,
}

impl RegistryAction {
    /// The scope action name of the Docker token protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryAction::Pull => "pull",
            RegistryAction::Push => "push",
            RegistryAction::Delete => "delete",
        }
    }
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryTls {
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryWebhook {
    pub name: String,
    pub url: String,
    /// Attempts before a delivery is logged as failed (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}
