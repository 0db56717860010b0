//! Who is calling: the [`Identity`] the authentication layer attaches to
//! every `/api/v1` request, and the [`Role`]s it may hold.
//!
//! Handlers that need more than the route-level check (redacting Secret
//! values for non-admins, filtering lists to a token's namespaces or apps,
//! checking the namespaces an apply writes to) read the identity from the
//! request's extensions with `Option<Extension<Identity>>`: it is absent only
//! where no authentication layer runs (a component's router tested alone).

use serde::{Deserialize, Serialize};

/// A role, from least to most powerful; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// get, describe, logs, app and pipeline reads; Secret values redacted.
    Viewer,
    /// viewer, plus apply, delete, rollout, scale, app sync/rollback/promote.
    Deployer,
    /// everything: exec, Secret values, tokens.
    Admin,
}

impl Role {
    /// The lowercase name used in tokens, errors and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }

    /// Parses `viewer`, `deployer` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "deployer" => Some(Role::Deployer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: a token's name, role and scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The token's name (for audit lines and errors).
    pub name: String,
    pub role: Role,
    /// Namespaces the token is limited to; empty means every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Applications the token is limited to; empty means every application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
    /// Set for a pod's service-account token: what it may do is decided by
    /// the RBAC rules bound to this ServiceAccount, not by `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountRef>,
}

/// A ServiceAccount by namespace and name (`system:serviceaccount:NS:NAME`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

impl Identity {
    /// Whether the role includes `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether objects in `namespace` are within the token's scope: every
    /// namespace for a token without a scope, else only those it names (a
    /// token limited to applications reaches no namespace directly).
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        !self.is_scoped() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// Whether application `app` is within the token's scope: every app for
    /// a token without a scope, else only those it names.
    pub fn allows_app(&self, app: &str) -> bool {
        !self.is_scoped() || self.apps.iter().any(|a| a == app)
    }

    /// Whether the token is limited to some namespaces or apps.
    pub fn is_scoped(&self) -> bool {
        !self.namespaces.is_empty() || !self.apps.is_empty()
    }

    /// Whether Secret values may be shown to this caller: admins, and
    /// service accounts (a route reading Secrets was authorised by their
    /// RBAC rules, which grant the values as on Kubernetes).
    pub fn sees_secret_values(&self) -> bool {
        self.has(Role::Admin) || self.service_account.is_some()
    }
}

/// Whether Secret values may be shown to the request's caller; without an
/// identity (no authentication layer ran) they are not: secure by default.
pub fn sees_secret_values(identity: Option<&Identity>) -> bool {
    identity.is_some_and(Identity::sees_secret_values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(role: Role, namespaces: &[&str], apps: &[&str]) -> Identity {
        Identity {
            name: "t".into(),
            role,
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            apps: apps.iter().map(|s| s.to_string()).collect(),
            service_account: None,
        }
    }

    #[test]
    fn roles_include_the_lesser_ones() {
        let deployer = id(Role::Deployer, &[], &[]);
        assert!(deployer.has(Role::Viewer) && deployer.has(Role::Deployer));
        assert!(!deployer.has(Role::Admin));
        assert!(id(Role::Admin, &[], &[]).has(Role::Deployer));
        assert!(!id(Role::Viewer, &[], &[]).has(Role::Deployer));
    }

    #[test]
    fn scope_limits_namespaces_and_apps() {
        let t = id(Role::Deployer, &["team-a"], &["shop"]);
        assert!(t.allows_namespace("team-a") && !t.allows_namespace("default"));
        assert!(t.allows_app("shop") && !t.allows_app("other"));
        assert!(t.is_scoped());
        let open = id(Role::Viewer, &[], &[]);
        assert!(open.allows_namespace("anything") && !open.is_scoped());
        let apps_only = id(Role::Deployer, &[], &["shop"]);
        assert!(
            !apps_only.allows_namespace("default"),
            "an app token reaches no namespace"
        );
        let ns_only = id(Role::Deployer, &["team-a"], &[]);
        assert!(
            !ns_only.allows_app("shop"),
            "a namespace token reaches no app"
        );
    }

    #[test]
    fn only_admins_see_secret_values() {
        assert!(!id(Role::Deployer, &[], &[]).sees_secret_values());
        assert!(id(Role::Admin, &[], &[]).sees_secret_values());
        assert!(!sees_secret_values(None));
        assert_eq!(Role::parse("deployer"), Some(Role::Deployer));
        assert_eq!(Role::parse("root"), None);
    }
}
