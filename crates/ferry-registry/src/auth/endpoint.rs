//! `GET /token`: checks Basic credentials (rate-limited per client IP, argon2
//! under a semaphore: [`super::limits`]) and issues a signed token for the
//! requested `repository:<name>:<actions>` scopes, each narrowed to what the
//! account holds. `*` stands for exactly the actions the account holds on
//! that repository; the token lists explicit actions only.

use std::net::{IpAddr, Ipv4Addr};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferry_core::registry_spec::RegistryAction;

use super::token::{Claims, Grant};
use super::{Auth, Principal, TOKEN_TTL, now};
use crate::Registry;
use crate::error::Error;

/// Parses `repository:<name>:<a,b>` scopes.
pub(super) fn parse_scope(scope: &str) -> Option<(String, Vec<String>)> {
    let rest = scope.strip_prefix("repository:")?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((
        name.to_string(),
        actions.split(',').map(str::to_string).collect(),
    ))
}

/// The actions to grant: those asked for that `allowed` holds, `*`
/// expanded to all of `allowed`; sorted, each once.
pub(super) fn grant_actions(wanted: &[String], allowed: &[RegistryAction]) -> Vec<String> {
    let mut out: Vec<RegistryAction> = allowed
        .iter()
        .copied()
        .filter(|a| wanted.iter().any(|w| w == "*" || w == a.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out.into_iter().map(|a| a.as_str().to_string()).collect()
}

/// `user:secret` from a Basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let pair = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())?;
    let (user, secret) = pair.split_once(':').unwrap_or((pair.as_str(), ""));
    Some((user.to_string(), secret.to_string()))
}

/// Who `user` logs in as — a declared account or a minted pull robot —
/// after the rate limit and the secret check; `Err` is the response to send.
async fn login<'a>(
    auth: &'a Auth,
    ip: IpAddr,
    user: &str,
    secret: String,
) -> Result<Principal<'a>, Response> {
    if let Err(retry_after) = auth.logins.reserve(ip, tokio::time::Instant::now()) {
        tracing::warn!(%ip, account = user, retry_after, "registry: too many failed logins from this address");
        return Err(Error::TooManyRequests { retry_after }.into_response());
    }
    let found = match auth.accounts.iter().find(|a| a.login == user) {
        Some(a) => auth
            .check_secret(a, secret)
            .await
            .then_some(Principal::Declared(a)),
        None => auth
            .minted
            .check(user, &secret)
            .map(|repositories| Principal::Minted {
                login: user.to_string(),
                repositories,
            }),
    };
    match found {
        Some(who) => {
            auth.logins.refund(ip);
            Ok(who)
        }
        None => {
            tracing::info!(account = user, %ip, "registry login failed");
            Err(Error::Unauthorized { challenge: None }.into_response())
        }
    }
}

/// `GET /token?service=...&scope=repository:<name>:<actions>...`
pub(crate) async fn token_endpoint(
    State(reg): State<Registry>,
    client: Option<axum::Extension<ferry_api::ConnInfo>>,
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
    let ip = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.remote.ip());
    let who = match basic_credentials(&headers) {
        Some((user, secret)) => match login(auth, ip, &user, secret).await {
            Ok(a) => Some(a),
            Err(resp) => return resp,
        },
        None => None,
    };
    let mut access = Vec::new();
    for (_, scope) in params.iter().filter(|(k, _)| k == "scope") {
        for one in scope.split(' ') {
            let Some((name, wanted)) = parse_scope(one) else {
                continue;
            };
            let actions = grant_actions(&wanted, &auth.allowed(who.as_ref(), &name));
            access.push(Grant {
                kind: "repository".into(),
                name,
                actions,
            });
        }
    }
    let issued = now();
    let claims = Claims {
        sub: who
            .as_ref()
            .map(|w| w.login().to_string())
            .unwrap_or_default(),
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
    use RegistryAction::*;

    #[test]
    fn scopes_parse_names_with_slashes_and_ports() {
        assert_eq!(
            parse_scope("repository:a/b:pull,push"),
            Some(("a/b".into(), vec!["pull".into(), "push".into()]))
        );
        assert_eq!(parse_scope("registry:catalog:*"), None);
    }

    #[test]
    fn star_expands_to_exactly_the_held_actions() {
        let w = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(grant_actions(&w("*"), &[Pull]), ["pull"]);
        assert_eq!(grant_actions(&w("*"), &[Pull, Push]), ["pull", "push"]);
        assert_eq!(
            grant_actions(&w("*"), &[Delete, Pull, Push]),
            ["pull", "push", "delete"]
        );
        assert!(grant_actions(&w("*"), &[]).is_empty());
        assert_eq!(grant_actions(&w("push,pull,*"), &[Pull]), ["pull"]);
        assert_eq!(
            grant_actions(&w("delete"), &[Pull, Push]),
            Vec::<String>::new()
        );
    }
}
