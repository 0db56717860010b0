//! The token store of one region: `<data dir>/auth/tokens.json` (mode 0600
//! in a 0700 directory), holding each token's name, role, scope, creation
//! and expiry times and the SHA-256 of its secret — never the secret.
//!
//! Tokens are 256 random bits from the operating system, so a plain SHA-256
//! is enough to store them (a password hash protects guessable secrets; these
//! are not). Every change is written to a temporary file, fsynced and renamed
//! over the old one, so a `kill -9` leaves the old or the new store, never a
//! torn one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use ferry_api::{Identity, Role, ServiceAccountRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::fsutil::{create_private_dir, write_private};

/// What the store keeps of one token (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; `None`: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// A pod's service-account token: the account it acts as (authorised
    /// by RBAC rules, not by `role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountRef>,
    /// The uid of the pod holding it; revoked when that pod goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Hex SHA-256 of the secret.
    #[serde(default, skip_serializing)]
    pub(crate) sha256: String,
}

/// The file's form: the records with their hashes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    tokens: Vec<Stored>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    record: TokenRecord,
    sha256: String,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub namespaces: Vec<String>,
    pub apps: Vec<String>,
    /// Lifetime in seconds; `None`: never expires.
    pub ttl: Option<u64>,
}

/// The region's tokens, loaded once and kept in memory.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) records: Vec<TokenRecord>,
    by_hash: HashMap<[u8; 32], usize>,
}

impl State {
    fn from(records: Vec<TokenRecord>) -> Result<State, Error> {
        let mut by_hash = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let mut h = [0u8; 32];
            hex::decode_to_slice(&r.sha256, &mut h).map_err(|_| {
                Error::Corrupt(format!("token `{}` has a malformed sha256", r.name))
            })?;
            by_hash.insert(h, i);
        }
        Ok(State { records, by_hash })
    }
}

pub(crate) fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh token: `ferry_` and 43 characters of URL-safe base64 (256 bits).
pub(crate) fn generate() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(format!(
        "ferry_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Whether `name` may name a token: 1–63 of `[a-z0-9-]`, not starting or
/// ending with `-` (a DNS label, as Kubernetes object names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl TokenStore {
    /// Opens (creating if missing) the store under `dir` (`<data dir>/auth`).
    pub fn open(dir: &Path) -> Result<TokenStore, Error> {
        create_private_dir(dir)?;
        let path = dir.join("tokens.json");
        let records = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: File = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?;
                file.tokens
                    .into_iter()
                    .map(|s| TokenRecord {
                        sha256: s.sha256,
                        ..s.record
                    })
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(TokenStore {
            state: RwLock::new(State::from(records)?),
            path,
        })
    }

    /// Every token, without secrets, in creation order.
    pub fn list(&self) -> Vec<TokenRecord> {
        self.read().records.clone()
    }

    /// The identity `secret` authenticates at `now` (unix seconds), if any.
    pub fn verify(&self, secret: &str, now: u64) -> Option<Identity> {
        let state = self.read();
        let r = &state.records[*state.by_hash.get(&hash(secret))?];
        if r.expires.is_some_and(|e| now >= e) {
            return None;
        }
        Some(Identity {
            name: r.name.clone(),
            role: r.role,
            namespaces: r.namespaces.clone(),
            apps: r.apps.clone(),
            service_account: r.service_account.clone(),
        })
    }

    /// The identity of the token called `name` if it is still valid at
    /// `now` (a web UI session re-checks its token on every request, so
    /// revoking the token ends the session).
    pub fn identity(&self, name: &str, now: u64) -> Option<Identity> {
        let state = self.read();
        let r = state.records.iter().find(|r| r.name == name)?;
        if r.expires.is_some_and(|e| now >= e) {
            return None;
        }
        Some(Identity {
            name: r.name.clone(),
            role: r.role,
            namespaces: r.namespaces.clone(),
            apps: r.apps.clone(),
            service_account: r.service_account.clone(),
        })
    }

    /// Creates a token at `now`; returns its secret (shown once) and record.
    pub fn create(&self, new: NewToken, now: u64) -> Result<(String, TokenRecord), Error> {
        if !valid_name(&new.name) {
            return Err(Error::BadName(new.name));
        }
        let secret = generate()?;
        let mut state = self.write();
        if state.records.iter().any(|r| r.name == new.name) {
            return Err(Error::Exists(new.name));
        }
        let record = TokenRecord {
            name: new.name,
            role: new.role,
            namespaces: new.namespaces,
            apps: new.apps,
            created: now,
            expires: new.ttl.map(|t| now.saturating_add(t)),
            service_account: None,
            pod: None,
            sha256: hex::encode(hash(&secret)),
        };
        self.insert(&mut state, record.clone())?;
        Ok((secret, record))
    }

    /// Adds `record` and writes the file (under the caller's write lock).
    pub(crate) fn insert(&self, state: &mut State, record: TokenRecord) -> Result<(), Error> {
        let mut records = state.records.clone();
        records.push(record);
        self.persist(&records)?;
        *state = State::from(records)?;
        Ok(())
    }

    /// Removes every record `drop` selects and writes the file; the removed
    /// records (none: nothing written).
    pub(crate) fn remove_where(
        &self,
        drop: impl Fn(&TokenRecord) -> bool,
    ) -> Result<Vec<TokenRecord>, Error> {
        let mut state = self.write();
        let (removed, kept): (Vec<_>, Vec<_>) =
            state.records.iter().cloned().partition(|r| drop(r));
        if !removed.is_empty() {
            self.persist(&kept)?;
            *state = State::from(kept)?;
        }
        Ok(removed)
    }

    /// Removes the token called `name`; it stops working at once.
    pub fn revoke(&self, name: &str) -> Result<TokenRecord, Error> {
        let mut state = self.write();
        let Some(i) = state.records.iter().position(|r| r.name == name) else {
            return Err(Error::NotFound(name.to_string()));
        };
        let mut records = state.records.clone();
        let removed = records.remove(i);
        self.persist(&records)?;
        *state = State::from(records)?;
        Ok(removed)
    }

    /// A name not used yet: `base`, else `base-2`, `base-3`, …
    pub fn unused_name(&self, base: &str) -> String {
        let state = self.read();
        let taken = |n: &str| state.records.iter().any(|r| r.name == n);
        if !taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !taken(n))
            .expect("an unused name exists")
    }

    fn persist(&self, records: &[TokenRecord]) -> Result<(), Error> {
        let file = File {
            tokens: records
                .iter()
                .map(|r| Stored {
                    record: r.clone(),
                    sha256: r.sha256.clone(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).expect("token records serialise");
        write_private(&self.path, &bytes)
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
