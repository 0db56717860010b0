//! `spec.registry` of a `Region`: who may use the region's OCI registry,
//! where it sends webhooks and how often it collects garbage. Secrets are stored hashed (argon2 PHC strings,
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
    /// Serve HTTPS with this certificate and key (PEM files), or with one
    /// ferry makes from the region's CA (`generate: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RegistryTls>,
    /// Where to POST CloudEvents for pushes and deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<RegistryWebhook>,
    /// Periodic online garbage collection inside the server (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc: Option<RegistryGc>,
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

/// HTTPS for the registry: PEM files, or `generate: true` (a certificate
/// from the region's CA under `<data dir>/tls/`, for `localhost`, the
/// loopback and bound addresses and `hostnames`). `ferry up` fills in
/// `certFile` and `keyFile` of a generated certificate before the registry
/// starts; they are empty until then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryTls {
    #[serde(default, skip_serializing_if = "path_is_empty")]
    pub cert_file: std::path::PathBuf,
    #[serde(default, skip_serializing_if = "path_is_empty")]
    pub key_file: std::path::PathBuf,
    /// Make the certificate from the region's CA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generate: bool,
    /// Further DNS names or IP addresses of a generated certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
}

fn path_is_empty(p: &std::path::Path) -> bool {
    p.as_os_str().is_empty()
}

impl RegistryTls {
    pub(crate) fn validate(&self, doc: &crate::yaml::Document, problems: &mut crate::Problems) {
        crate::tls_spec::validate_choice(
            doc,
            "spec.registry.tls",
            self.generate,
            (
                !path_is_empty(&self.cert_file),
                !path_is_empty(&self.key_file),
            ),
            &self.hostnames,
            problems,
        );
    }
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

/// Periodic garbage collection: `gc: {intervalSeconds: 3600}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryGc {
    /// Seconds between two runs; zero is rejected when the spec is read.
    pub interval_seconds: std::num::NonZeroU64,
    /// Blobs written or used more recently than this many seconds are kept
    /// (default 3600), so in-flight pushes lose nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u64>,
    /// Also remove manifests that no tag reaches.
    #[serde(default)]
    pub delete_untagged: bool,
}

#[cfg(test)]
mod tests {
    use crate::topology::Topology;

    fn region(gc: &str) -> Result<Topology, crate::Error> {
        let text = format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:7070, registry: 127.0.0.1:5000, gateway: 127.0.0.1:8080}}\n  registry:\n    gc: {gc}\n"
        );
        Topology::from_sources(&[("t.yaml".into(), text)])
    }

    #[test]
    fn gc_settings_are_read_and_checked_by_field() {
        let t =
            region("{intervalSeconds: 60, gracePeriodSeconds: 5, deleteUntagged: true}").unwrap();
        let gc = t.regions[0].spec.registry.clone().unwrap().gc.unwrap();
        assert_eq!(gc.interval_seconds.get(), 60);
        assert_eq!(gc.grace_period_seconds, Some(5));
        assert!(gc.delete_untagged);
        let zero = region("{intervalSeconds: 0}").unwrap_err().to_string();
        assert!(zero.contains("spec.registry.gc.intervalSeconds"), "{zero}");
        let unknown = region("{intervalSeconds: 5, interval: 1h}")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("interval"), "{unknown}");
    }
}
