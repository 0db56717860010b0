//! Docker token authentication. With users or robots configured, `/v2/`
//! requests need a Bearer token; without one they get `401` and a
//! `WWW-Authenticate: Bearer realm=".../token",service=...,scope=...`
//! challenge. `GET /token` checks Basic credentials against argon2 hashes and
//! issues a signed token granting the requested scopes the account's
//! permissions allow (pull only, for anyone, with `anonymousPull`;
//! [`endpoint`]). Tokens list explicit actions, each checked as such;
//! `_catalog` needs a named account. Failed logins are rate-limited and
//! argon2 runs under a semaphore ([`limits`]). Besides the declared
//! accounts, the region's server mints pull-only robots scoped to exact
//! repositories ([`minted`]). Secrets and tokens are never logged.

mod endpoint;
pub mod limits;
pub mod minted;
pub mod token;

pub(crate) use endpoint::token_endpoint;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, header};
use ferry_core::registry_spec::{RegistryAction, RegistrySpec};
use globset::{GlobBuilder, GlobMatcher};
use sha2::{Digest as _, Sha256};

use crate::Registry;
use crate::error::{Error, Result};
use limits::{Argon2Pool, LoginLimiter};
use minted::MintedRobots;
use token::Signer;

/// The `service` of challenges and tokens.
pub const SERVICE: &str = "ferry-registry";
/// How long a token lives.
const TOKEN_TTL: u64 = 900;

/// One repository action a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub repository: String,
    pub action: RegistryAction,
}

#[derive(Debug)]
struct Account {
    login: String,
    hash: String,
    rules: Vec<(GlobMatcher, Vec<RegistryAction>)>,
}

/// Accounts, permissions and the token signer.
#[derive(Debug)]
pub struct Auth {
    signer: Signer,
    accounts: Vec<Account>,
    anonymous_pull: bool,
    scheme: &'static str,
    /// sha256 of secrets already verified against their argon2 hash, so
    /// repeated logins do not pay for argon2 each time.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    logins: LoginLimiter,
    argon2: Argon2Pool,
    /// Pull robots the region's server mints.
    minted: MintedRobots,
}

/// Who a login proved to be.
#[derive(Debug)]
enum Principal<'a> {
    /// An account of `spec.registry`.
    Declared(&'a Account),
    /// A minted pull robot and the repositories it may pull.
    Minted {
        login: String,
        repositories: BTreeSet<String>,
    },
}

impl Principal<'_> {
    fn login(&self) -> &str {
        match self {
            Principal::Declared(a) => &a.login,
            Principal::Minted { login, .. } => login,
        }
    }
}

/// An argon2id PHC string for `secret`, for `secretHash` in the config.
pub fn hash_secret(secret: &str) -> String {
    let salt =
        SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).expect("16 bytes is a valid salt");
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Auth {
    /// `None` when no account is configured (an open registry).
    pub fn from_spec(spec: &RegistrySpec, dir: &Path) -> Result<Option<Self>> {
        if spec.users.is_empty() && spec.robots.is_empty() {
            return Ok(None);
        }
        let mut accounts = Vec::new();
        let all = spec
            .users
            .iter()
            .map(|u| (u.name.clone(), u))
            .chain(spec.robots.iter().map(|r| (format!("robot${}", r.name), r)));
        for (login, a) in all {
            if login.starts_with(&format!("robot${}", minted::PREFIX)) {
                return Err(Error::Config(format!(
                    "spec.registry.robots: `{}` is reserved for the pull robots ferry mints; \
                     choose a name not starting with `{}`",
                    a.name,
                    minted::PREFIX
                )));
            }
            PasswordHash::new(&a.secret_hash).map_err(|e| {
                Error::Config(format!(
                    "account `{login}`: secretHash is not an argon2 PHC string: {e}"
                ))
            })?;
            let mut rules = Vec::new();
            for p in &a.permissions {
                let glob = GlobBuilder::new(&p.repositories)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| {
                        Error::Config(format!(
                            "account `{login}`: repositories `{}`: {e}",
                            p.repositories
                        ))
                    })?;
                rules.push((glob.compile_matcher(), p.actions.clone()));
            }
            accounts.push(Account {
                login,
                hash: a.secret_hash.clone(),
                rules,
            });
        }
        Ok(Some(Auth {
            signer: Signer::load_or_create(&dir.join("token.key"))?,
            accounts,
            anonymous_pull: spec.anonymous_pull,
            scheme: if spec.tls.is_some() { "https" } else { "http" },
            verified: Mutex::default(),
            logins: LoginLimiter::default(),
            argon2: Argon2Pool::default(),
            minted: MintedRobots::load(dir)?,
        }))
    }

    fn allowed(&self, who: Option<&Principal<'_>>, repository: &str) -> Vec<RegistryAction> {
        let mut out = Vec::new();
        if self.anonymous_pull {
            out.push(RegistryAction::Pull);
        }
        match who {
            Some(Principal::Declared(a)) => {
                for (glob, actions) in &a.rules {
                    if glob.is_match(repository) {
                        out.extend(actions.iter().copied());
                    }
                }
            }
            Some(Principal::Minted { repositories, .. }) if repositories.contains(repository) => {
                out.push(RegistryAction::Pull)
            }
            _ => {}
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether `secret` is the account's: a secret verified before is
    /// recognised by its sha256; otherwise argon2 runs in [`Argon2Pool`].
    async fn check_secret(&self, account: &Account, secret: String) -> bool {
        let fingerprint: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if self
            .verified
            .lock()
            .expect("verified lock")
            .get(&account.login)
            == Some(&fingerprint)
        {
            return true;
        }
        let hash = account.hash.clone();
        let ok = self
            .argon2
            .run(move || {
                PasswordHash::new(&hash).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(secret.as_bytes(), &h)
                        .is_ok()
                })
            })
            .await
            .unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .expect("verified lock")
                .insert(account.login.clone(), fingerprint);
        }
        ok
    }

    fn challenge(
        &self,
        headers: &HeaderMap,
        tls: Option<bool>,
        needed: &[Access],
        insufficient: bool,
    ) -> String {
        let scheme = match tls {
            Some(true) => "https",
            Some(false) => "http",
            None => self.scheme,
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let mut c = format!("Bearer realm=\"{scheme}://{host}/token\",service=\"{SERVICE}\"");
        // One scope per repository, space-separated (a mount also needs
        // pull on the source repository).
        let mut scopes: Vec<(&str, Vec<&str>)> = Vec::new();
        for a in needed {
            match scopes.iter_mut().find(|(r, _)| *r == a.repository) {
                Some((_, actions)) if !actions.contains(&a.action.as_str()) => {
                    actions.push(a.action.as_str())
                }
                Some(_) => {}
                None => scopes.push((&a.repository, vec![a.action.as_str()])),
            }
        }
        if !scopes.is_empty() {
            let scopes: Vec<String> = scopes
                .iter()
                .map(|(r, actions)| format!("repository:{r}:{}", actions.join(",")))
                .collect();
            c.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
        }
        if insufficient {
            c.push_str(",error=\"insufficient_scope\"");
        }
        c
    }
}

impl Registry {
    /// The pull robot of application `app` in environment `env`: pull
    /// only, on exactly `repositories` (minted, or given a new secret when
    /// the set changed; [`minted`]). `None` when pulling needs no
    /// credentials here: no accounts are declared (an open registry) or
    /// `anonymousPull` is on.
    pub fn pull_robot(
        &self,
        app: &str,
        env: &str,
        repositories: &BTreeSet<String>,
    ) -> Result<Option<minted::PullRobot>> {
        match &self.inner.auth {
            Some(auth) if !auth.anonymous_pull => auth
                .minted
                .ensure(&format!("{}{app}.{env}", minted::PREFIX), repositories)
                .map(Some),
            _ => Ok(None),
        }
    }

    /// Removes the pull robot of `app` in `env` (its secret stops working);
    /// false when there was none.
    pub fn remove_pull_robot(&self, app: &str, env: &str) -> Result<bool> {
        match &self.inner.auth {
            Some(auth) => auth
                .minted
                .remove(&format!("{}{app}.{env}", minted::PREFIX)),
            None => Ok(false),
        }
    }

    /// Checks the request's token grants every access in `needed` and, when
    /// `named` (the catalog), that it was issued to an account; `tls` is
    /// whether the request came over TLS (its challenge's realm scheme).
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        tls: Option<bool>,
        needed: &[Access],
        named: bool,
    ) -> Result<()> {
        let Some(auth) = &self.inner.auth else {
            return Ok(());
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let claims = match bearer {
            Some(t) => auth.signer.verify(t.trim(), now()),
            None => None,
        };
        let Some(claims) = claims else {
            // `/v2/` always challenges (clients learn the token realm from
            // it); anonymous pulls of repositories need no token.
            if auth.anonymous_pull
                && !named
                && !needed.is_empty()
                && needed.iter().all(|a| a.action == RegistryAction::Pull)
            {
                return Ok(());
            }
            return Err(Error::Unauthorized {
                challenge: Some(auth.challenge(headers, tls, needed, false)),
            });
        };
        // Explicit actions only: a `*` in a token (never issued) grants nothing.
        let granted = |a: &Access| {
            claims.access.iter().any(|g| {
                g.kind == "repository"
                    && g.name == a.repository
                    && g.actions.iter().any(|x| x == a.action.as_str())
            }) || (auth.anonymous_pull && a.action == RegistryAction::Pull)
        };
        // The catalog lists every repository: a declared account's only,
        // not a minted robot's (it knows its few repositories already).
        let minted = claims
            .sub
            .strip_prefix("robot$")
            .is_some_and(|n| n.starts_with(minted::PREFIX));
        if needed.iter().all(granted) && !(named && (claims.sub.is_empty() || minted)) {
            Ok(())
        } else {
            Err(Error::Unauthorized {
                challenge: Some(auth.challenge(headers, tls, needed, true)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("s3cret");
        assert!(h.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"s3cret", &parsed)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"nope", &parsed)
                .is_err()
        );
    }
}
