//! The route policy: what each API request needs, decided from its method,
//! path and query alone (pure, so every route is tested without a server).
//!
//! The table is explicit for the routes that need less than admin; any other
//! mutating route needs admin, so a route added later without a line here
//! is admin-only rather than open. Reads need viewer. Health, readiness,
//! metrics and the git webhook (which checks its own signature) are open;
//! so is `/ui`, the web UI, which has its own sessions (ferry-ui).

use axum::http::Method;
use ferry_api::{Identity, Role};

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// No token: health, readiness, metrics, the git webhook.
    Open,
    /// A token with at least `role`, within `scope`.
    Token { role: Role, scope: Scope },
}

/// Which namespaces or applications a request reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// One application.
    App(String),
    /// Checked by the handler (apply reads the namespaces from its body;
    /// lists of apps and runs are filtered to the token's apps).
    Handler,
    /// Every namespace, or no namespace at all (cluster-scoped objects,
    /// replication, tokens): only for tokens without a scope.
    Cluster,
    /// A cluster-scoped Namespace object by name: allowed to tokens whose
    /// namespaces include it.
    NamespaceObject(String),
}

/// Why a token may not make a request (the 403's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

/// What `method path?query` needs.
pub fn need(method: &Method, path: &str, query: Option<&str>) -> Need {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reads = method == Method::GET || method == Method::HEAD;
    let token = |role, scope| Need::Token { role, scope };
    match segments.as_slice() {
        ["healthz"] | ["readyz"] | ["metrics"] if reads => Need::Open,
        ["api", "v1", "hooks", "git"] if method == Method::POST => Need::Open,
        // The web UI authenticates by its own session cookie (a token is
        // exchanged for it at /ui/login) and checks this policy itself for
        // each action, through `check`, with the API route the action is.
        ["ui", ..] => Need::Open,
        ["api", "v1", rest @ ..] => v1(method, reads, rest, query),
        _ if reads => token(Role::Viewer, Scope::Cluster),
        _ => token(Role::Admin, Scope::Cluster),
    }
}

fn v1(method: &Method, reads: bool, rest: &[&str], query: Option<&str>) -> Need {
    use Scope::*;
    let ns = |n: &str| Namespace(n.to_string());
    let (role, scope) = match (rest, reads) {
        (["objects", _kind], true) => (Role::Viewer, namespace_query(query)),
        (["objects", kind, "_", name], _) => {
            let role = if reads { Role::Viewer } else { Role::Deployer };
            match *kind {
                "namespaces" | "namespace" | "ns" => (role, NamespaceObject(name.to_string())),
                _ => (role, Cluster),
            }
        }
        (["objects", _, n, _], true) => (Role::Viewer, ns(n)),
        (["objects", _, n, _], false) if method == Method::DELETE => (Role::Deployer, ns(n)),
        (["events"], true) => (Role::Viewer, namespace_query(query)),
        (["logs", n, _], true) => (Role::Viewer, ns(n)),
        (["exec", n, _], false) => (Role::Admin, ns(n)),
        (["portforward", n, _, _], false) => (Role::Admin, ns(n)),
        (["rollout", n, _, _], false) | (["scale", n, _], false) => (Role::Deployer, ns(n)),
        (["eviction", n, _], false) => (Role::Deployer, ns(n)),
        // The node is the region: cordoning it touches every namespace.
        (["cordon" | "uncordon", _], false) => (Role::Admin, Cluster),
        (["apply"], false) => (Role::Deployer, Handler),
        (["apps"], true) | (["pipelines", "runs", ..], true) => (Role::Viewer, Handler),
        (["apps", app, ..], true) => (Role::Viewer, App(app.to_string())),
        (["apps", app, "sync" | "rollback" | "promote"], false) => {
            (Role::Deployer, App(app.to_string()))
        }
        (["apps", app, "rollout", "promote" | "abort"], false) => {
            (Role::Deployer, App(app.to_string()))
        }
        (["replication", "reconcile"], false) => (Role::Deployer, Cluster),
        // A private region pushing its status (it accepts no inbound
        // connection, so gates here cannot ask it).
        (["regions", _, "status"], false) if method == Method::PUT => (Role::Deployer, Cluster),
        // The region's registry and gateway addresses: any token.
        (["endpoints"], true) => (Role::Viewer, Handler),
        // The fleet shows every cluster's URL and apps: unscoped tokens.
        (["clusters", ..], true) => (Role::Viewer, Cluster),
        (["tokens", ..], _) => (Role::Admin, Cluster),
        ([] | [""], true) => (Role::Viewer, Handler),
        (_, true) => (Role::Viewer, Cluster),
        (_, false) => (Role::Admin, Cluster),
    };
    Need::Token { role, scope }
}

/// `?namespace=NS` narrows a list to one namespace; none (or `*`) is all.
fn namespace_query(query: Option<&str>) -> Scope {
    let ns = query.into_iter().flat_map(|q| q.split('&')).find_map(|kv| {
        kv.strip_prefix("namespace=")
            .filter(|n| !n.is_empty() && *n != "*" && *n != "%2A")
    });
    match ns {
        Some(n) => Scope::Namespace(n.to_string()),
        None => Scope::Cluster,
    }
}

/// Checks `who` against what a request needs.
pub fn check(who: &Identity, role: Role, scope: &Scope) -> Result<(), Denied> {
    if !who.has(role) {
        return Err(Denied(format!(
            "token `{}` has the {} role; this needs {role}: ask an admin for a {role} \
             token (`ferry token create NAME --role {role}`)",
            who.name, who.role
        )));
    }
    let out_of_scope = |what: String| {
        Denied(format!(
            "token `{}` is limited to {}; {what}",
            who.name,
            describe_scope(who)
        ))
    };
    match scope {
        Scope::Namespace(n) if !who.allows_namespace(n) => {
            Err(out_of_scope(format!("namespace `{n}` is outside it")))
        }
        Scope::App(a) if !who.allows_app(a) => {
            Err(out_of_scope(format!("application `{a}` is outside it")))
        }
        Scope::NamespaceObject(n) if !who.allows_namespace(n) => {
            Err(out_of_scope(format!("namespace `{n}` is outside it")))
        }
        Scope::Cluster if who.is_scoped() => Err(out_of_scope(
            "this reaches every namespace: name one (-n NAMESPACE)".to_string(),
        )),
        _ => Ok(()),
    }
}

fn describe_scope(who: &Identity) -> String {
    let mut parts = Vec::new();
    if !who.namespaces.is_empty() {
        parts.push(format!("namespaces {}", who.namespaces.join(", ")));
    }
    if !who.apps.is_empty() {
        parts.push(format!("applications {}", who.apps.join(", ")));
    }
    parts.join(" and ")
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
