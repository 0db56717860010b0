//! Docker token authentication. With users or robots configured, `/v2/`
//! requests need a Bearer token; without one they get `401` and a
//! `WWW-Authenticate: Bearer realm=".../token",service=...,scope=...`
//! challenge. `GET /token` checks Basic credentials against argon2 hashes and
//! issues a signed token granting the requested scopes the account's
//! permissions allow (pull only, for anyone, with `anonymousPull`). Secrets
//! and tokens are never logged.

pub mod token;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferry_core::registry_spec::{RegistryAction, RegistrySpec};
use globset::{GlobBuilder, GlobMatcher};
use sha2::{Digest as _, Sha256};

use crate::Registry;
use crate::error::{Error, Result};
use token::{Claims, Grant, Signer};

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
        }))
    }

    fn allowed(&self, account: Option<&Account>, repository: &str) -> Vec<RegistryAction> {
        let mut out = Vec::new();
        if self.anonymous_pull {
            out.push(RegistryAction::Pull);
        }
        if let Some(a) = account {
            for (glob, actions) in &a.rules {
                if glob.is_match(repository) {
                    out.extend(actions.iter().copied());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn check_secret(&self, account: &Account, secret: &str) -> bool {
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
        let ok = PasswordHash::new(&account.hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        });
        if ok {
            self.verified
                .lock()
                .expect("verified lock")
                .insert(account.login.clone(), fingerprint);
        }
        ok
    }

    fn challenge(&self, headers: &HeaderMap, needed: &[Access], insufficient: bool) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let mut c = format!(
            "Bearer realm=\"{}://{host}/token\",service=\"{SERVICE}\"",
            self.scheme
        );
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
    /// Checks the request's token grants every access in `needed`.
    pub(crate) fn authorize(&self, headers: &HeaderMap, needed: &[Access]) -> Result<()> {
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
                && !needed.is_empty()
                && needed.iter().all(|a| a.action == RegistryAction::Pull)
            {
                return Ok(());
            }
            return Err(Error::Unauthorized {
                challenge: Some(auth.challenge(headers, needed, false)),
            });
        };
        let granted = |a: &Access| {
            claims.access.iter().any(|g| {
                g.kind == "repository"
                    && g.name == a.repository
                    && g.actions.iter().any(|x| x == a.action.as_str() || x == "*")
            }) || (auth.anonymous_pull && a.action == RegistryAction::Pull)
        };
        if needed.iter().all(granted) {
            Ok(())
        } else {
            Err(Error::Unauthorized {
                challenge: Some(auth.challenge(headers, needed, true)),
            })
        }
    }
}

/// Parses `repository:<name>:<a,b>` scopes.
fn parse_scope(scope: &str) -> Option<(String, Vec<String>)> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((
        name.to_string(),
        actions.split(',').map(str::to_string).collect(),
    ))
}

/// `GET /token?service=...&scope=repository:<name>:<actions>...`
pub(crate) async fn token_endpoint(
    State(reg): State<Registry>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(auth) = &reg.inner.auth else {
        return Error::Unsupported("this registry has no accounts; no token is needed".into())
            .into_response();
    };
    let params: Vec<(String, String)> = query
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let account = match basic {
        Some(pair) => {
            let (user, secret) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
            let found = auth.accounts.iter().find(|a| a.login == user);
            let ok = match found {
                Some(a) => {
                    let (reg2, login, secret) = (reg.clone(), a.login.clone(), secret.to_string());
                    tokio::task::spawn_blocking(move || {
                        let auth = reg2.inner.auth.as_ref().expect("auth present");
                        auth.accounts
                            .iter()
                            .find(|x| x.login == login)
                            .is_some_and(|x| auth.check_secret(x, &secret))
                    })
                    .await
                    .unwrap_or(false)
                }
                None => false,
            };
            if !ok {
                tracing::info!(account = user, "registry login failed");
                return Error::Unauthorized { challenge: None }.into_response();
            }
            found
        }
        None => None,
    };
    let mut access = Vec::new();
    for (_, scope) in params.iter().filter(|(k, _)| k == "scope") {
        for one in scope.split(' ') {
            let Some((name, wanted)) = parse_scope(one) else {
                continue;
            };
            let allowed = auth.allowed(account, &name);
            let actions: Vec<String> = wanted
                .into_iter()
                .filter(|w| {
                    w == "*" && !allowed.is_empty() || allowed.iter().any(|a| a.as_str() == w)
                })
                .collect();
            access.push(Grant {
                kind: "repository".into(),
                name,
                actions,
            });
        }
    }
    let issued = now();
    let claims = Claims {
        sub: account.map(|a| a.login.clone()).unwrap_or_default(),
        exp: issued + TOKEN_TTL,
        access,
    };
    let token = auth.signer.sign(&claims);
    let issued_at = time::OffsetDateTime::from_unix_timestamp(issued as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    Json(serde_json::json!({ "token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued_at }))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_names_with_slashes_and_ports() {
        assert_eq!(
            parse_scope("repository:a/b:pull,push"),
            Some(("a/b".into(), vec!["pull".into(), "push".into()]))
        );
        assert_eq!(parse_scope("registry:catalog:*"), None);
    }

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
