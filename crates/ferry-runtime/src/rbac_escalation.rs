//! Privilege escalation through RBAC objects refused, as Kubernetes' RBAC
//! storage does it, pure: a service account may write a Role or ClusterRole
//! only if it already holds every permission the role grants (or may
//! `escalate` that role), and a RoleBinding or ClusterRoleBinding only if it
//! holds every permission of the role bound (or may `bind` that role).
//! Without this, an account allowed to write RBAC objects in its namespace
//! could bind itself `cluster-admin`.
//!
//! Holding is checked rule by rule, broken into single verbs, API groups,
//! resources and names: a wildcard asked for is covered only by a wildcard
//! held, a rule without `resourceNames` only by a held rule without them.
//! Permissions held in a namespace are those bound cluster-wide, by
//! RoleBindings there and (in the account's own namespace) the default
//! ClusterRole; a ClusterRole or ClusterRoleBinding needs them cluster-wide.

use ferry_api::ServiceAccountRef;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::Value;

use crate::rbac::{self, Policy, Request};

const GROUP: &str = "rbac.authorization.k8s.io";

/// An RBAC object about to be written, as it will be stored.
#[derive(Debug, Clone)]
pub enum Written {
    Role(Role),
    ClusterRole(ClusterRole),
    RoleBinding(RoleBinding),
    ClusterRoleBinding(ClusterRoleBinding),
}

impl Written {
    /// The RBAC object `value` of `group` and `kind`; `None` for other
    /// kinds (or an object that does not decode, which validation has
    /// refused already).
    pub fn of(group: &str, kind: &str, value: &Value) -> Option<Written> {
        if group != GROUP {
            return None;
        }
        let v = value.clone();
        match kind {
            "Role" => serde_json::from_value(v).ok().map(Written::Role),
            "ClusterRole" => serde_json::from_value(v).ok().map(Written::ClusterRole),
            "RoleBinding" => serde_json::from_value(v).ok().map(Written::RoleBinding),
            "ClusterRoleBinding" => serde_json::from_value(v)
                .ok()
                .map(Written::ClusterRoleBinding),
            _ => None,
        }
    }
}

/// The rules `sa` holds in `ns` (`None`: cluster-wide only).
pub fn held_rules(policy: &Policy, sa: &ServiceAccountRef, ns: Option<&str>) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for b in &policy.cluster_role_bindings {
        if b.role_ref.kind == "ClusterRole"
            && rbac::subjects_include(b.subjects.as_deref(), sa, None)
        {
            out.extend(rbac::cluster_role_rules(policy, &b.role_ref.name));
        }
    }
    let Some(ns) = ns else {
        return out;
    };
    if ns == sa.namespace
        && let Some(role) = &policy.default_cluster_role
    {
        out.extend(rbac::cluster_role_rules(policy, role));
    }
    for b in &policy.role_bindings {
        if b.metadata.namespace.as_deref() == Some(ns)
            && rbac::subjects_include(b.subjects.as_deref(), sa, Some(ns))
        {
            out.extend(rbac::role_ref_rules(policy, &b.role_ref, ns));
        }
    }
    out
}

/// Whether the `held` rules grant everything `wanted` grants.
pub fn covers(held: &[PolicyRule], wanted: &[PolicyRule]) -> bool {
    wanted
        .iter()
        .all(|w| atoms(w).iter().all(|a| held.iter().any(|h| holds(h, a))))
}

/// One verb on one group/resource/name, or on one non-resource URL.
#[derive(Debug)]
struct Atom<'a> {
    verb: &'a str,
    target: Target<'a>,
}

#[derive(Debug)]
enum Target<'a> {
    Resource {
        group: &'a str,
        resource: &'a str,
        name: Option<&'a str>,
    },
    Url(&'a str),
}

fn strs(l: &Option<Vec<String>>) -> Vec<&str> {
    l.iter().flatten().map(String::as_str).collect()
}

fn atoms(rule: &PolicyRule) -> Vec<Atom<'_>> {
    let list = strs;
    let (groups, resources, urls) = (
        list(&rule.api_groups),
        list(&rule.resources),
        list(&rule.non_resource_urls),
    );
    let names: Vec<Option<&str>> = match rule.resource_names.as_deref() {
        None | Some([]) => vec![None],
        Some(n) => n.iter().map(|x| Some(x.as_str())).collect(),
    };
    let mut out = Vec::new();
    for verb in rule.verbs.iter().map(String::as_str) {
        for &group in &groups {
            for &resource in &resources {
                for &name in &names {
                    let target = Target::Resource {
                        group,
                        resource,
                        name,
                    };
                    out.push(Atom { verb, target });
                }
            }
        }
        out.extend(urls.iter().map(|u| Atom {
            verb,
            target: Target::Url(u),
        }));
    }
    out
}

/// Whether one held rule grants `a`.
fn holds(h: &PolicyRule, a: &Atom) -> bool {
    let has =
        |l: &Option<Vec<String>>, want: &str| l.iter().flatten().any(|x| x == "*" || x == want);
    if !h.verbs.iter().any(|v| v == "*" || v == a.verb) {
        return false;
    }
    match a.target {
        Target::Url(url) => h.non_resource_urls.iter().flatten().any(|u| {
            u == "*" || u == url || u.strip_suffix('*').is_some_and(|p| url.starts_with(p))
        }),
        Target::Resource {
            group,
            resource,
            name,
        } => {
            let resource_held = h.resources.iter().flatten().any(|r| {
                r == "*"
                    || r == resource
                    || r.strip_prefix("*/")
                        .is_some_and(|sub| resource.split_once('/').is_some_and(|(_, s)| s == sub))
            });
            let name_held = match h.resource_names.as_deref() {
                None | Some([]) => true,
                Some(names) => name.is_some_and(|n| names.iter().any(|x| x == n)),
            };
            has(&h.api_groups, group) && resource_held && name_held
        }
    }
}

/// Refuses writing `w` when it would give `sa` (or anyone it binds)
/// permissions `sa` does not hold itself. `policy` is what is stored;
/// `planned` the policy with this apply's RBAC objects added (a binding
/// may refer to a role applied with it).
pub fn check(
    policy: &Policy,
    planned: &Policy,
    sa: &ServiceAccountRef,
    w: &Written,
) -> Result<(), String> {
    let (verb, resource, name, ns, rules) = match w {
        Written::Role(r) => {
            let ns = r.metadata.namespace.clone();
            (
                "escalate",
                "roles",
                r.metadata.name.clone(),
                ns,
                r.rules.clone().unwrap_or_default(),
            )
        }
        Written::ClusterRole(r) => {
            let mut with = planned.clone();
            with.cluster_roles
                .retain(|c| c.metadata.name != r.metadata.name);
            with.cluster_roles.push(r.clone());
            let name = r.metadata.name.clone().unwrap_or_default();
            let rules = rbac::cluster_role_rules(&with, &name);
            ("escalate", "clusterroles", Some(name), None, rules)
        }
        Written::RoleBinding(b) => {
            let ns = b.metadata.namespace.clone().unwrap_or_default();
            let rules = rbac::role_ref_rules(planned, &b.role_ref, &ns);
            let resource = if b.role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            (
                "bind",
                resource,
                Some(b.role_ref.name.clone()),
                Some(ns),
                rules,
            )
        }
        Written::ClusterRoleBinding(b) => {
            let rules = rbac::cluster_role_rules(planned, &b.role_ref.name);
            (
                "bind",
                "clusterroles",
                Some(b.role_ref.name.clone()),
                None,
                rules,
            )
        }
    };
    if covers(&held_rules(policy, sa, ns.as_deref()), &rules) {
        return Ok(());
    }
    let may = Request {
        verb: verb.into(),
        group: GROUP.into(),
        resource: resource.into(),
        subresource: None,
        namespace: ns.clone(),
        name: name.clone(),
    };
    if rbac::allows(policy, sa, &may) {
        return Ok(());
    }
    let scope = ns.map_or("cluster-wide".to_string(), |n| {
        format!("in the namespace \"{n}\"")
    });
    let what = if verb == "bind" {
        "binds a role granting"
    } else {
        "grants"
    };
    Err(format!(
        "User \"{sa}\" may not write this object: it {what} permissions the account does not hold {scope} \
         (privilege escalation); hold them yourself, or be granted `{verb}` on {resource} \"{}\" in API group \"{GROUP}\"",
        name.unwrap_or_default()
    ))
}

#[cfg(test)]
#[path = "rbac_escalation_tests.rs"]
mod tests;
