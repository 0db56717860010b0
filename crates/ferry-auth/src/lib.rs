//! Authentication and authorisation for ferry's API.
//!
//! Every `/api/v1` request but the git webhook needs a bearer token
//! ([`store`]: hashed at rest, with a role — viewer, deployer or admin — and
//! optionally limited to namespaces or applications). [`layer::authenticate`]
//! checks each request against the route policy ([`policy`]), answers 401 or
//! 403 with a JSON error that says what is needed, hands the caller's
//! [`ferry_api::Identity`] to the handlers, and writes every mutating call to
//! the [`audit`] log. [`client_config`] is the CLI's side: the
//! kubeconfig-like file holding each region's URL, CA and token.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod client_config;
mod fsutil;
pub mod layer;
pub mod pod_tokens;
pub mod policy;
pub mod service_accounts;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_api::Role;

pub use client_config::{ClientConfig, Context};
pub use service_accounts::{Attributes, Authorizer};
pub use store::{NewToken, TokenRecord, TokenStore};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the token store is damaged: {0}; restore it from a backup or remove it to start again (every token is then lost)"
    )]
    Corrupt(String),
    #[error("cannot read random bytes from the operating system: {0}")]
    Random(String),
    #[error(
        "token name `{0}` is not valid: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'"
    )]
    BadName(String),
    #[error("a token called `{0}` exists; revoke it first or choose another name")]
    Exists(String),
    #[error("no token called `{0}`; `ferry token list` shows them")]
    NotFound(String),
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
}

/// A region's authentication state: its tokens and its audit log.
#[derive(Debug)]
pub struct Auth {
    store: TokenStore,
    audit: audit::AuditLog,
    /// Decides service-account tokens' requests (the runtime's RBAC), set
    /// once the runtime runs; until then those requests are refused.
    authorizer: OnceLock<Arc<dyn Authorizer>>,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Auth {
    /// Opens the region's store and audit log under `<data dir>/auth`.
    pub fn open(data_dir: &Path) -> Result<Arc<Auth>, Error> {
        let dir = data_dir.join("auth");
        let store = TokenStore::open(&dir)?;
        let audit = audit::AuditLog::open(&dir.join("audit.log"))?;
        Ok(Arc::new(Auth {
            store,
            audit,
            authorizer: OnceLock::new(),
        }))
    }

    /// Installs the authorizer of service-account tokens (once; later calls
    /// are ignored).
    pub fn set_authorizer(&self, authorizer: Arc<dyn Authorizer>) {
        let _ = self.authorizer.set(authorizer);
    }

    /// The authorizer of service-account tokens, once installed.
    pub fn authorizer(&self) -> Option<&Arc<dyn Authorizer>> {
        self.authorizer.get()
    }

    /// The token store.
    pub fn store(&self) -> &TokenStore {
        &self.store
    }

    /// The audit log (the web UI records its actions in it too).
    pub fn audit(&self) -> &audit::AuditLog {
        &self.audit
    }

    /// Makes sure the operator holds an admin token: `known` (the token the
    /// client config already has for this region) is kept if it is a valid
    /// admin token without a scope; otherwise a new one is created and its
    /// secret returned, for `ferry up` to write into the client config.
    pub fn ensure_admin(&self, known: Option<&str>) -> Result<Option<String>, Error> {
        let valid = known
            .and_then(|t| self.store.verify(t, now()))
            .is_some_and(|id| id.role == Role::Admin && !id.is_scoped());
        if valid {
            return Ok(None);
        }
        let name = self.store.unused_name("admin");
        let (secret, _) = self.store.create(
            NewToken {
                name: name.clone(),
                role: Role::Admin,
                namespaces: vec![],
                apps: vec![],
                ttl: None,
            },
            now(),
        )?;
        tracing::info!(token = %name, "created an admin token for the client config");
        Ok(Some(secret))
    }
}
