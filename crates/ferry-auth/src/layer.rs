//! The authentication middleware wrapped around a region's whole API
//! router: it reads `Authorization: Bearer <token>`, checks the route policy,
//! answers 401 (no or unknown token, with a `WWW-Authenticate` challenge) or
//! 403 (a token without the right), hands the [`Identity`] to the handler in
//! the request's extensions, and audits every mutating call.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_api::{ApiError, ErrorCode, Identity};

use crate::Auth;
use crate::audit::{Entry, rfc3339_now};
use crate::policy::{self, Need};

/// The middleware: `axum::middleware::from_fn_with_state(auth, authenticate)`.
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mutating = !(method == Method::GET || method == Method::HEAD);
    let audit = |who: Option<&Identity>, outcome: &str, status: u16| {
        if mutating {
            auth.audit.record(&Entry {
                time: rfc3339_now(),
                identity: who.map_or("-", |w| w.name.as_str()),
                role: who.map(|w| w.role.as_str()),
                verb: method.as_str(),
                object: &path,
                outcome,
                status,
            });
        }
    };
    let (role, scope) = match policy::need(&method, &path, req.uri().query()) {
        Need::Open => {
            let resp = next.run(req).await;
            audit(None, "allowed", resp.status().as_u16());
            return resp;
        }
        Need::Token { role, scope } => (role, scope),
    };
    let who = bearer(&req).and_then(|t| auth.store.verify(t, crate::now()));
    let Some(who) = who else {
        let resp = unauthenticated(bearer(&req).is_some());
        audit(None, "unauthenticated", resp.status().as_u16());
        return resp;
    };
    let allowed = match &who.service_account {
        Some(account) => service_account(&auth, account, &method, &path, req.uri().query()),
        None => policy::check(&who, role, &scope),
    };
    if let Err(denied) = allowed {
        let resp = ApiError::new(ErrorCode::Forbidden, denied.0).into_response();
        audit(Some(&who), "forbidden", resp.status().as_u16());
        return resp;
    }
    req.extensions_mut().insert(who.clone());
    let resp = next.run(req).await;
    audit(Some(&who), "allowed", resp.status().as_u16());
    resp
}

/// A service-account token's request: RBAC decides, through the runtime's
/// authorizer ([`crate::service_accounts`]).
fn service_account(
    auth: &Auth,
    account: &ferry_api::ServiceAccountRef,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<(), policy::Denied> {
    use crate::service_accounts::{Decide, decide, refused};
    match decide(method, path, query) {
        Decide::Discovery | Decide::Handler => Ok(()),
        Decide::Refused => Err(refused(account, method, path)),
        Decide::Rbac(attributes) => match auth.authorizer() {
            Some(a) => a.authorize(account, &attributes),
            None => Err(policy::Denied(format!(
                "{account}: this region has no RBAC authorizer yet; try again when it is ready"
            ))),
        },
    }
}

/// The token of `Authorization: Bearer <token>`, if any.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthenticated(had_token: bool) -> Response {
    let message = if had_token {
        "the bearer token is not valid (unknown, revoked or expired); \
         use a token from `ferry token create` or the one `ferry up` wrote to the client config"
    } else {
        "this API needs a bearer token (Authorization: Bearer <token>); \
         `ferry up` wrote an admin token to the client config ($FERRY_CONFIG, \
         default ~/.config/ferry/config.yaml), and `ferry token create` makes more"
    };
    let mut resp = ApiError::new(ErrorCode::Unauthorized, message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ferry\""),
    );
    resp
}
