//! RBAC evaluation as Kubernetes' authorizer does it, pure: a [`Policy`]
//! (the Roles, ClusterRoles and their bindings) and a [`Request`] in, allowed
//! or not out. A ClusterRoleBinding grants its ClusterRole's rules in every
//! namespace and for cluster-scoped resources; a RoleBinding grants its
//! Role's — or a ClusterRole's — rules in the binding's namespace only.
//! A rule matches on verb, API group, resource (`pods`, `pods/log`, `*`,
//! `*/scale`) and, when it lists `resourceNames`, the object's name. There
//! are no deny rules: anything no rule allows is refused.
//!
//! Subjects match a service account by `kind: ServiceAccount` (a
//! RoleBinding's subject without a namespace means the binding's own), by
//! `User system:serviceaccount:NS:NAME`, or by the groups every service
//! account is in (`system:serviceaccounts`, `system:serviceaccounts:NS`,
//! `system:authenticated`). ferry gives every service account
//! [`Policy::default_cluster_role`] (`view`) in its own namespace. A ClusterRole with an `aggregationRule` adds
//! the rules of the ClusterRoles its selectors pick (by `matchLabels`).

use ferry_api::ServiceAccountRef;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

/// A request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    /// The API group (empty: core).
    pub group: String,
    /// The plural resource (`pods`).
    pub resource: String,
    pub subresource: Option<String>,
    /// `None`: a cluster-scoped resource, or every namespace.
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The RBAC objects that exist.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// A ClusterRole every service account holds in its own namespace
    /// without a binding (ferry's default: `view`); `None`: none, as on
    /// Kubernetes.
    pub default_cluster_role: Option<String>,
}

/// Whether a rule bound to `sa` allows `req`.
pub fn allows(policy: &Policy, sa: &ServiceAccountRef, req: &Request) -> bool {
    let by_cluster = policy.cluster_role_bindings.iter().any(|b| {
        b.role_ref.kind == "ClusterRole"
            && subjects_include(b.subjects.as_deref(), sa, None)
            && cluster_role_rules(policy, &b.role_ref.name)
                .iter()
                .any(|r| rule_matches(r, req))
    });
    if by_cluster {
        return true;
    }
    let Some(ns) = req.namespace.as_deref() else {
        return false;
    };
    let by_default = ns == sa.namespace
        && policy.default_cluster_role.as_deref().is_some_and(|role| {
            cluster_role_rules(policy, role)
                .iter()
                .any(|r| rule_matches(r, req))
        });
    by_default
        || policy.role_bindings.iter().any(|b| {
            b.metadata.namespace.as_deref() == Some(ns)
                && subjects_include(b.subjects.as_deref(), sa, Some(ns))
                && role_ref_rules(policy, &b.role_ref, ns)
                    .iter()
                    .any(|r| rule_matches(r, req))
        })
}

/// The rules a RoleBinding in `ns` refers to.
pub(crate) fn role_ref_rules(policy: &Policy, role_ref: &RoleRef, ns: &str) -> Vec<PolicyRule> {
    match role_ref.kind.as_str() {
        "Role" => policy
            .roles
            .iter()
            .find(|r| {
                r.metadata.namespace.as_deref() == Some(ns)
                    && r.metadata.name.as_deref() == Some(role_ref.name.as_str())
            })
            .and_then(|r| r.rules.clone())
            .unwrap_or_default(),
        "ClusterRole" => cluster_role_rules(policy, &role_ref.name),
        _ => Vec::new(),
    }
}

/// A ClusterRole's rules, with those its `aggregationRule` picks.
pub fn cluster_role_rules(policy: &Policy, name: &str) -> Vec<PolicyRule> {
    let Some(role) = policy
        .cluster_roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(name))
    else {
        return Vec::new();
    };
    let mut rules = role.rules.clone().unwrap_or_default();
    let selectors = role
        .aggregation_rule
        .as_ref()
        .and_then(|a| a.cluster_role_selectors.clone())
        .unwrap_or_default();
    for other in &policy.cluster_roles {
        if other.metadata.name.as_deref() == Some(name) {
            continue;
        }
        let labels = other.metadata.labels.clone().unwrap_or_default();
        let picked = selectors.iter().any(|s| picks(s, &labels));
        if picked {
            rules.extend(other.rules.clone().unwrap_or_default());
        }
    }
    rules
}

/// Whether an aggregation selector picks a ClusterRole with `labels`:
/// `matchLabels` and `matchExpressions` ANDed, as Kubernetes selects. A
/// selector without requirements picks nothing (Kubernetes would pick every
/// ClusterRole, cluster-admin's rules included), nor does one apply would
/// refuse (an unknown operator, values missing).
fn picks(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let mut bad = Vec::new();
    let parsed = crate::netpol_spec::selector("", selector, &mut bad);
    bad.is_empty() && !parsed.is_empty() && parsed.matches(labels)
}

/// Whether `subjects` name `sa`; `binding_ns` is a RoleBinding's namespace
/// (the default of its ServiceAccount subjects), `None` for a
/// ClusterRoleBinding (whose ServiceAccount subjects must name one).
pub(crate) fn subjects_include(
    subjects: Option<&[Subject]>,
    sa: &ServiceAccountRef,
    binding_ns: Option<&str>,
) -> bool {
    subjects
        .into_iter()
        .flatten()
        .any(|s| match s.kind.as_str() {
            "ServiceAccount" => {
                let ns = s
                    .namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .or(binding_ns);
                s.name == sa.name && ns == Some(sa.namespace.as_str())
            }
            "User" => s.name == sa.to_string(),
            "Group" => {
                s.name == "system:serviceaccounts"
                    || s.name == "system:authenticated"
                    || s.name == format!("system:serviceaccounts:{}", sa.namespace)
            }
            _ => false,
        })
}

/// Whether one rule allows `req`.
pub fn rule_matches(rule: &PolicyRule, req: &Request) -> bool {
    let has = |list: &Option<Vec<String>>, want: &str| {
        list.iter().flatten().any(|x| x == "*" || x == want)
    };
    if !rule.verbs.iter().any(|v| v == "*" || *v == req.verb) || !has(&rule.api_groups, &req.group)
    {
        return false;
    }
    let combined = match &req.subresource {
        Some(sub) => format!("{}/{sub}", req.resource),
        None => req.resource.clone(),
    };
    let resource = rule.resources.iter().flatten().any(|r| {
        r == "*"
            || *r == combined
            || req
                .subresource
                .as_ref()
                .is_some_and(|sub| *r == format!("*/{sub}"))
    });
    if !resource {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => req.name.as_ref().is_some_and(|n| names.contains(n)),
    }
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
mod tests;
