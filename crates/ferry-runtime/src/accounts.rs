//! Service accounts and RBAC in the running runtime: the controller's step
//! that keeps a `default` ServiceAccount in every namespace and the
//! built-in ClusterRoles as defined (as Kubernetes' controllers and
//! bootstrap policy do) and revokes the tokens of pods that are gone; the
//! [`rbac::Policy`] of the stored objects; and the two places RBAC decides
//! for a pod's token — the API middleware's [`RbacAuthorizer`] and apply,
//! which needs `create` for a new object and `patch` for an existing one,
//! and no RBAC object granting more than the token holds
//! ([`crate::rbac_escalation`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use ferry_api::ServiceAccountRef;
use ferry_auth::policy::Denied;
use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::apply::Planned;
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::rbac::{self, Policy, Request};
use crate::rbac_defaults;
use crate::rbac_escalation::{self, Written};
use crate::runtime::{Inner, now};

/// The ClusterRole every service account holds in its own namespace.
pub const DEFAULT_CLUSTER_ROLE: &str = "view";

/// One pass: default ServiceAccounts, built-in ClusterRoles, stale tokens.
pub fn reconcile(inner: &Inner) {
    let mut puts = Vec::new();
    for ns in inner.namespace_levels().keys() {
        if inner.get(Kind::ServiceAccount, ns, "default").is_none() {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns}});
            puts.push(system_object(Kind::ServiceAccount, ns, "default", sa, None));
        }
    }
    for role in rbac_defaults::cluster_roles() {
        let name = role["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let old = inner.get(Kind::ClusterRole, "", &name);
        let same = old.as_ref().is_some_and(|o| {
            o.value.get("rules") == role.get("rules")
                && o.value.get("aggregationRule") == role.get("aggregationRule")
        });
        if !same {
            puts.push(system_object(
                Kind::ClusterRole,
                "",
                &name,
                role,
                old.as_deref(),
            ));
        }
    }
    if !puts.is_empty()
        && let Err(e) = inner.commit(puts, vec![])
    {
        tracing::error!(error = %e, "cannot store default service accounts and cluster roles");
    }
    revoke_stale_tokens(inner);
}

/// Revokes the tokens of pods no longer stored (deleted while ferry was down).
fn revoke_stale_tokens(inner: &Inner) {
    let Some(auth) = &inner.cfg.auth else {
        return;
    };
    let live: BTreeSet<String> = inner
        .list(Kind::Pod)
        .iter()
        .filter_map(|o| Some(o.value.pointer("/metadata/uid")?.as_str()?.to_string()))
        .collect();
    match auth
        .store()
        .revoke_pod_tokens_except(&|uid| live.contains(uid))
    {
        Ok(gone) if !gone.is_empty() => {
            tracing::info!(
                pods = gone.len(),
                "revoked the service-account tokens of pods that are gone"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot revoke stale service-account tokens"),
    }
}

/// An object the runtime itself keeps (uid and creation time kept from `old`).
pub(crate) fn system_object(
    kind: Kind,
    ns: &str,
    name: &str,
    mut value: Value,
    old: Option<&StoredObject>,
) -> StoredObject {
    let meta = old.map(|o| &o.value["metadata"]);
    value["metadata"]["uid"] = meta
        .map(|m| m["uid"].clone())
        .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
    value["metadata"]["creationTimestamp"] = meta
        .map(|m| m["creationTimestamp"].clone())
        .unwrap_or_else(|| json!(now()));
    StoredObject {
        group_kind: kind.group_kind(),
        namespace: kind.namespaced().then(|| ns.to_string()),
        name: name.to_string(),
        source: "ferry (built in)".into(),
        value,
    }
}

/// The stored RBAC objects, with `view` as every account's default.
pub fn policy(inner: &Inner) -> Policy {
    fn all<T: DeserializeOwned>(inner: &Inner, kind: Kind) -> Vec<T> {
        let objects = inner.list(kind);
        objects
            .iter()
            .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
            .collect()
    }
    Policy {
        roles: all(inner, Kind::Role),
        cluster_roles: all(inner, Kind::ClusterRole),
        role_bindings: all(inner, Kind::RoleBinding),
        cluster_role_bindings: all(inner, Kind::ClusterRoleBinding),
        default_cluster_role: Some(DEFAULT_CLUSTER_ROLE.into()),
    }
}

/// The plural of a kind the runtime does not know itself (`Ingress` →
/// `ingresses`, `NetworkPolicy` → `networkpolicies`).
pub fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with('s') {
        format!("{k}es")
    } else if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    }
}

/// The RBAC request of the middleware's attributes (the resource word
/// resolved to its group and plural; cluster-scoped kinds have no namespace).
pub fn request(a: &ferry_auth::Attributes) -> Request {
    let kind = Kind::from_cli(&a.resource);
    let (group, resource) = match kind {
        Some(k) => (k.group().to_string(), k.plural().to_string()),
        None => (String::new(), a.resource.clone()),
    };
    Request {
        verb: a.verb.clone(),
        group,
        resource,
        subresource: a.subresource.clone(),
        namespace: a
            .namespace
            .clone()
            .filter(|_| kind.is_none_or(Kind::namespaced)),
        name: a.name.clone(),
    }
}

/// Kubernetes' words for a refused request, and what to do.
fn denied(sa: &ServiceAccountRef, r: &Request) -> String {
    let resource = match &r.subresource {
        Some(s) => format!("{}/{s}", r.resource),
        None => r.resource.clone(),
    };
    let scope = match &r.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    format!(
        "User \"{sa}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}: \
         bind a Role or ClusterRole that grants it to ServiceAccount `{}` of namespace `{}` \
         (a RoleBinding for one namespace, a ClusterRoleBinding for all)",
        r.verb, r.group, sa.name, sa.namespace
    )
}

/// The middleware's authorizer for service-account tokens.
#[derive(Debug)]
pub struct RbacAuthorizer {
    pub(crate) inner: Arc<Inner>,
}

impl ferry_auth::Authorizer for RbacAuthorizer {
    fn authorize(
        &self,
        sa: &ServiceAccountRef,
        a: &ferry_auth::Attributes,
    ) -> std::result::Result<(), Denied> {
        let req = request(a);
        if rbac::allows(&policy(&self.inner), sa, &req) {
            Ok(())
        } else {
            Err(Denied(denied(sa, &req)))
        }
    }
}

/// Whether `sa` may apply every planned object: `create` when it is new,
/// `patch` when it exists (as server-side apply asks).
pub fn authorize_apply(inner: &Inner, sa: &ServiceAccountRef, planned: &[Planned]) -> Result<()> {
    let policy = policy(inner);
    for p in planned {
        let exists = inner.objects.lock_or_recover().map.contains_key(&p.key);
        let (group, resource) = match p.kind {
            Some(k) => (k.group().to_string(), k.plural().to_string()),
            None => (
                p.key.group_kind.group.clone(),
                plural(&p.key.group_kind.kind),
            ),
        };
        let req = Request {
            verb: if exists { "patch" } else { "create" }.into(),
            group,
            resource,
            subresource: None,
            namespace: Some(p.key.namespace.clone()).filter(|n| !n.is_empty()),
            name: Some(p.key.name.clone()),
        };
        if !rbac::allows(&policy, sa, &req) {
            return Err(Error::Forbidden(format!("{}: {}", p.key, denied(sa, &req))));
        }
    }
    let with_planned = planned_policy(&policy, planned);
    for p in planned {
        let Some(w) = written(p) else {
            continue;
        };
        rbac_escalation::check(&policy, &with_planned, sa, &w)
            .map_err(|e| Error::Forbidden(format!("{}: {e}", p.key)))?;
    }
    Ok(())
}

/// A planned RBAC object as it will be stored (its namespace from its key).
fn written(p: &Planned) -> Option<Written> {
    let mut value = p.value.clone();
    if !p.key.namespace.is_empty() {
        value["metadata"]["namespace"] = json!(p.key.namespace);
    }
    Written::of(&p.key.group_kind.group, &p.key.group_kind.kind, &value)
}

/// `policy` with the RBAC objects of this apply in place of those they
/// replace (a binding may refer to a role applied with it).
fn planned_policy(policy: &Policy, planned: &[Planned]) -> Policy {
    fn put<
        T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    >(
        list: &mut Vec<T>,
        item: T,
    ) {
        let same = |o: &T| {
            o.metadata().name == item.metadata().name
                && o.metadata().namespace == item.metadata().namespace
        };
        list.retain(|o| !same(o));
        list.push(item);
    }
    let mut out = policy.clone();
    for p in planned {
        match written(p) {
            Some(Written::Role(r)) => put(&mut out.roles, r),
            Some(Written::ClusterRole(r)) => put(&mut out.cluster_roles, r),
            Some(Written::RoleBinding(b)) => put(&mut out.role_bindings, b),
            Some(Written::ClusterRoleBinding(b)) => put(&mut out.cluster_role_bindings, b),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_other_components_kinds() {
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("NetworkPolicy"), "networkpolicies");
        assert_eq!(plural("HTTPRoute"), "httproutes");
    }

    #[test]
    fn attributes_resolve_to_group_and_plural() {
        let a = ferry_auth::Attributes {
            verb: "list".into(),
            resource: "deploy".into(),
            subresource: None,
            namespace: Some("team".into()),
            name: None,
        };
        let r = request(&a);
        assert_eq!(
            (r.group.as_str(), r.resource.as_str()),
            ("apps", "deployments")
        );
        let ns = request(&ferry_auth::Attributes {
            resource: "namespaces".into(),
            ..a
        });
        assert_eq!(ns.namespace, None, "namespaces are cluster-scoped");
    }
}
