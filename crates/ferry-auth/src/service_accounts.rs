//! How a service-account token's request is authorised: ferry's roles do
//! not apply to it; instead the request is described as Kubernetes
//! describes it to an authorizer (verb, resource, subresource, namespace,
//! name — [`Attributes`]) and the [`Authorizer`] the region installed (the
//! embedded runtime, which holds the RBAC objects) decides. Pure: method,
//! path and query in, attributes out.
//!
//! Only the Kubernetes-object routes have attributes. Apply is decided per
//! object by its handler (create for new objects, patch for existing ones);
//! discovery (`/api/v1`, `/api/v1/api-resources`) is open to every
//! authenticated account, as Kubernetes' `system:discovery` is; every other
//! route (applications, pipelines, replication, tokens, the fleet) is
//! refused to service-account tokens.

use axum::http::Method;
use ferry_api::ServiceAccountRef;

use crate::policy::Denied;

/// A request as an RBAC authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `create`, `update`, `patch`, `delete`.
    pub verb: String,
    /// The resource as the path names it (`pods`, `deploy`, `configmaps`…);
    /// the authorizer resolves it to its group and plural.
    pub resource: String,
    /// `log`, `exec`, `portforward`, `scale`.
    pub subresource: Option<String>,
    /// `None`: cluster-scoped, or every namespace.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// What a service-account token's request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decide {
    /// RBAC over these attributes.
    Rbac(Attributes),
    /// Allowed here; the handler decides per object (apply).
    Handler,
    /// Allowed to every authenticated account (discovery).
    Discovery,
    /// Not reachable with a service-account token.
    Refused,
}

/// Decides RBAC requests for service accounts.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// `Ok` when a rule bound to `account` allows `request`; else why not.
    fn authorize(&self, account: &ServiceAccountRef, request: &Attributes) -> Result<(), Denied>;
}

/// What `method path?query` needs from a service-account token.
pub fn decide(method: &Method, path: &str, query: Option<&str>) -> Decide {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(rest) = segments.strip_prefix(&["api", "v1"]) else {
        return Decide::Refused;
    };
    let reads = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let ns = |n: &str| (n != "_").then(|| n.to_string());
    let rbac = |verb: &str, resource: &str, sub: Option<&str>, namespace, name: Option<&str>| {
        Decide::Rbac(Attributes {
            verb: verb.into(),
            resource: resource.into(),
            subresource: sub.map(str::to_string),
            namespace,
            name: name.map(str::to_string),
        })
    };
    match rest {
        [] | ["api-resources"] if reads => Decide::Discovery,
        ["objects", kind] if reads => rbac("list", kind, None, namespace_query(query), None),
        ["objects", kind, n, name] if reads => rbac("get", kind, None, ns(n), Some(name)),
        ["objects", kind, n, name] if method == Method::DELETE => {
            rbac("delete", kind, None, ns(n), Some(name))
        }
        ["events"] if reads => rbac("list", "events", None, namespace_query(query), None),
        ["logs", n, pod] if reads => rbac("get", "pods", Some("log"), ns(n), Some(pod)),
        ["exec", n, pod] if post => rbac("create", "pods", Some("exec"), ns(n), Some(pod)),
        ["portforward", n, pod, _] if post => {
            rbac("create", "pods", Some("portforward"), ns(n), Some(pod))
        }
        ["rollout", n, name, _] if post => rbac("patch", "deployments", None, ns(n), Some(name)),
        ["scale", n, name] if post => {
            rbac("patch", "deployments", Some("scale"), ns(n), Some(name))
        }
        ["eviction", n, pod] if post => rbac("create", "pods", Some("eviction"), ns(n), Some(pod)),
        ["cordon" | "uncordon", node] if post => rbac("patch", "nodes", None, None, Some(node)),
        ["apply"] if post => Decide::Handler,
        _ => Decide::Refused,
    }
}

/// `?namespace=NS`; none (or `*`) is every namespace.
fn namespace_query(query: Option<&str>) -> Option<String> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("namespace="))
        .filter(|n| !n.is_empty() && *n != "*" && *n != "%2A")
        .map(str::to_string)
}

/// The 403 message of a route service-account tokens cannot reach.
pub fn refused(account: &ServiceAccountRef, method: &Method, path: &str) -> Denied {
    Denied(format!(
        "{account} cannot {method} {path}: a pod's service-account token reaches the \
         Kubernetes-object routes only (objects, apply, events, logs, exec, port-forward, \
         rollout, scale, eviction, cordon), as its RBAC rules allow"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rbac(
        verb: &str,
        res: &str,
        sub: Option<&str>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Decide {
        Decide::Rbac(Attributes {
            verb: verb.into(),
            resource: res.into(),
            subresource: sub.map(Into::into),
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
        })
    }

    #[test]
    fn object_routes_become_kubernetes_verbs() {
        let g = Method::GET;
        let cases = [
            (
                &g,
                "/api/v1/objects/pods",
                Some("namespace=team"),
                rbac("list", "pods", None, Some("team"), None),
            ),
            (
                &g,
                "/api/v1/objects/pods",
                None,
                rbac("list", "pods", None, None, None),
            ),
            (
                &g,
                "/api/v1/objects/pods",
                Some("namespace=*"),
                rbac("list", "pods", None, None, None),
            ),
            (
                &g,
                "/api/v1/objects/secrets/team/db",
                None,
                rbac("get", "secrets", None, Some("team"), Some("db")),
            ),
            (
                &g,
                "/api/v1/objects/ns/_/team",
                None,
                rbac("get", "ns", None, None, Some("team")),
            ),
            (
                &Method::DELETE,
                "/api/v1/objects/cm/team/x",
                None,
                rbac("delete", "cm", None, Some("team"), Some("x")),
            ),
            (
                &g,
                "/api/v1/events",
                Some("namespace=team"),
                rbac("list", "events", None, Some("team"), None),
            ),
            (
                &g,
                "/api/v1/logs/team/web-1",
                None,
                rbac("get", "pods", Some("log"), Some("team"), Some("web-1")),
            ),
            (
                &Method::POST,
                "/api/v1/exec/team/web-1",
                None,
                rbac("create", "pods", Some("exec"), Some("team"), Some("web-1")),
            ),
            (
                &Method::POST,
                "/api/v1/scale/team/web",
                None,
                rbac(
                    "patch",
                    "deployments",
                    Some("scale"),
                    Some("team"),
                    Some("web"),
                ),
            ),
            (
                &Method::POST,
                "/api/v1/rollout/team/web/restart",
                None,
                rbac("patch", "deployments", None, Some("team"), Some("web")),
            ),
        ];
        for (m, path, q, want) in cases {
            assert_eq!(decide(m, path, q), want, "{m} {path}");
        }
    }

    #[test]
    fn apply_discovery_and_ferrys_own_routes() {
        assert_eq!(
            decide(&Method::POST, "/api/v1/apply", None),
            Decide::Handler
        );
        assert_eq!(
            decide(&Method::GET, "/api/v1/api-resources", None),
            Decide::Discovery
        );
        assert_eq!(decide(&Method::GET, "/api/v1", None), Decide::Discovery);
        for (m, p) in [
            (Method::GET, "/api/v1/tokens"),
            (Method::POST, "/api/v1/tokens"),
            (Method::GET, "/api/v1/apps"),
            (Method::POST, "/api/v1/apps/shop/sync"),
            (Method::GET, "/api/v1/replication"),
            (Method::GET, "/api/v1/clusters"),
            (Method::GET, "/api/v1/pipelines/runs"),
            (Method::GET, "/api/v1/routes"),
            (Method::PUT, "/api/v1/objects/pods/team/x"),
            (Method::GET, "/v2/"),
        ] {
            assert_eq!(decide(&m, p, None), Decide::Refused, "{m} {p}");
        }
    }
}
