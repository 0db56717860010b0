//! The built-in ClusterRoles Kubernetes bootstraps — `view`, `edit`,
//! `admin`, `cluster-admin` — with the rules of its bootstrap policy for
//! the resources of the core, apps, batch, autoscaling, policy and
//! networking groups. The runtime stores them at start (labelled
//! `kubernetes.io/bootstrapping: rbac-defaults`) and puts them back when
//! they are deleted or changed, as the API server's auto-update does.
//!
//! As on Kubernetes, `view` reads everything but Secrets, `edit` adds
//! writes (Secrets and pods' exec and port-forward included) but no RBAC,
//! `admin` adds Roles and RoleBindings, and `cluster-admin` is `*` on `*`.
//! ClusterRoles labelled `rbac.authorization.k8s.io/aggregate-to-view`
//! (`-edit`, `-admin`) add their rules to the roles above them.

use serde_json::{Value, json};

/// The label the built-in roles carry.
pub const BOOTSTRAP_LABEL: &str = "kubernetes.io/bootstrapping";

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// What `view` reads (never Secrets).
fn view_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "bindings",
                "events",
                "limitranges",
                "pods/log",
                "pods/status",
                "resourcequotas",
                "namespaces",
            ],
            &READ,
        ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            &READ,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], &READ),
        rule(&["serving.knative.dev"], &["services", "revisions"], &READ),
        rule(&["batch"], &["cronjobs", "jobs"], &READ),
        rule(&["policy"], &["poddisruptionbudgets"], &READ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            &READ,
        ),
        rule(&["discovery.k8s.io"], &["endpointslices"], &READ),
    ]
}

/// What `edit` adds to `view`.
fn edit_rules() -> Vec<Value> {
    let all: Vec<&str> = READ.iter().chain(WRITE.iter()).copied().collect();
    vec![
        rule(
            &[""],
            &["pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
            &all,
        ),
        rule(
            &[""],
            &[
                "pods",
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            &all,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            &all,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], &all),
        rule(&["serving.knative.dev"], &["services", "revisions"], &all),
        rule(&["batch"], &["cronjobs", "jobs"], &all),
        rule(&["policy"], &["poddisruptionbudgets"], &all),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            &all,
        ),
    ]
}

/// What `admin` adds to `edit`: the namespace's RBAC.
fn admin_rules() -> Vec<Value> {
    let all: Vec<&str> = READ.iter().chain(WRITE.iter()).copied().collect();
    vec![
        rule(
            &["rbac.authorization.k8s.io"],
            &["roles", "rolebindings"],
            &all,
        ),
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
    ]
}

fn cluster_role(name: &str, rules: Vec<Value>, aggregate_from: &[&str]) -> Value {
    let mut v = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {BOOTSTRAP_LABEL: "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    });
    if !aggregate_from.is_empty() {
        let selectors: Vec<Value> = aggregate_from
            .iter()
            .map(|to| json!({"matchLabels": {format!("rbac.authorization.k8s.io/aggregate-to-{to}"): "true"}}))
            .collect();
        v["aggregationRule"] = json!({"clusterRoleSelectors": selectors});
    }
    v
}

/// The four built-in ClusterRoles, as documents to store.
pub fn cluster_roles() -> Vec<Value> {
    let view = view_rules();
    let edit: Vec<Value> = view.iter().cloned().chain(edit_rules()).collect();
    let admin: Vec<Value> = edit.iter().cloned().chain(admin_rules()).collect();
    let everything = vec![
        rule(&["*"], &["*"], &["*"]),
        json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
    ];
    vec![
        cluster_role("view", view, &["view"]),
        cluster_role("edit", edit, &["edit", "view"]),
        cluster_role("admin", admin, &["admin", "edit", "view"]),
        cluster_role("cluster-admin", everything, &[]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{Policy, Request, allows};
    use ferry_api::ServiceAccountRef;
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};

    fn bound_to(role: &str) -> Policy {
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "team"},
            "subjects": [{"kind": "ServiceAccount", "name": "app"}],
            "roleRef": {"kind": "ClusterRole", "name": role, "apiGroup": "rbac.authorization.k8s.io"},
        }))
        .unwrap();
        Policy {
            cluster_roles: cluster_roles()
                .into_iter()
                .map(|v| serde_json::from_value::<ClusterRole>(v).unwrap())
                .collect(),
            role_bindings: vec![binding],
            ..Policy::default()
        }
    }

    fn may(p: &Policy, verb: &str, group: &str, resource: &str) -> bool {
        let sa = ServiceAccountRef {
            namespace: "team".into(),
            name: "app".into(),
        };
        let (resource, sub) = match resource.split_once('/') {
            Some((r, s)) => (r.to_string(), Some(s.to_string())),
            None => (resource.to_string(), None),
        };
        let req = Request {
            verb: verb.into(),
            group: group.into(),
            resource,
            subresource: sub,
            namespace: Some("team".into()),
            name: Some("x".into()),
        };
        allows(p, &sa, &req)
    }

    #[test]
    fn view_edit_admin_and_cluster_admin_grant_what_kubernetes_grants() {
        let view = bound_to("view");
        assert!(may(&view, "list", "", "pods") && may(&view, "get", "apps", "deployments"));
        assert!(!may(&view, "get", "", "secrets") && !may(&view, "create", "", "configmaps"));
        let edit = bound_to("edit");
        assert!(may(&edit, "create", "", "configmaps") && may(&edit, "get", "", "secrets"));
        assert!(
            may(&edit, "create", "", "pods/exec")
                && may(&edit, "patch", "apps", "deployments/scale")
        );
        assert!(!may(
            &edit,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        let admin = bound_to("admin");
        assert!(may(
            &admin,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        assert!(!may(
            &admin,
            "create",
            "rbac.authorization.k8s.io",
            "clusterroles"
        ));
        let root = bound_to("cluster-admin");
        assert!(may(
            &root,
            "delete",
            "rbac.authorization.k8s.io",
            "clusterroles"
        ));
    }
}
