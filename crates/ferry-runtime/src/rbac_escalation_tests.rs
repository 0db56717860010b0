//! Escalation through RBAC objects, as Kubernetes' documentation describes
//! it: an account that may write Roles and RoleBindings in its namespace
//! still cannot grant or bind more than it holds, unless it may `escalate`
//! or `bind`.

use super::*;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).unwrap()
}

fn sa() -> ServiceAccountRef {
    ServiceAccountRef {
        namespace: "team".into(),
        name: "deployer".into(),
    }
}

fn role(name: &str, rules: &str) -> Role {
    yaml(&format!(
        "metadata: {{namespace: team, name: {name}}}\nrules: {rules}\n"
    ))
}

fn binding(name: &str, kind: &str, role: &str) -> RoleBinding {
    yaml(&format!(
        "metadata: {{namespace: team, name: {name}}}\nsubjects: [{{kind: ServiceAccount, name: deployer}}]\n\
         roleRef: {{kind: {kind}, name: {role}, apiGroup: rbac.authorization.k8s.io}}\n"
    ))
}

fn cluster_role(name: &str, rules: &str) -> ClusterRole {
    yaml(&format!("metadata: {{name: {name}}}\nrules: {rules}\n"))
}

/// The deployer may write RBAC objects and read and update Deployments in
/// `team`; `cluster-admin` exists.
fn policy() -> Policy {
    Policy {
        roles: vec![role(
            "writer",
            "[{apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [create, patch]},\
              {apiGroups: [apps], resources: [deployments], verbs: [get, update]},\
              {apiGroups: [''], resources: [configmaps], resourceNames: [settings], verbs: [get]}]",
        )],
        role_bindings: vec![binding("writer", "Role", "writer")],
        cluster_roles: vec![cluster_role(
            "cluster-admin",
            "[{apiGroups: ['*'], resources: ['*'], verbs: ['*']}, {nonResourceURLs: ['*'], verbs: ['*']}]",
        )],
        ..Policy::default()
    }
}

fn check_one(p: &Policy, w: Written) -> Result<(), String> {
    check(p, p, &sa(), &w)
}

#[test]
fn binding_cluster_admin_is_refused_as_escalation() {
    let err = check_one(
        &policy(),
        Written::RoleBinding(binding("me", "ClusterRole", "cluster-admin")),
    )
    .unwrap_err();
    assert!(err.contains("privilege escalation"), "{err}");
    assert!(
        err.contains("`bind` on clusterroles \"cluster-admin\""),
        "{err}"
    );
}

#[test]
fn a_role_within_what_the_account_holds_is_allowed_and_beyond_it_refused() {
    let p = policy();
    let within = "[{apiGroups: [apps], resources: [deployments], verbs: [get]}]";
    assert_eq!(check_one(&p, Written::Role(role("r", within))), Ok(()));
    let delete = "[{apiGroups: [apps], resources: [deployments], verbs: [delete]}]";
    assert!(check_one(&p, Written::Role(role("r", delete))).is_err());
    // A wildcard asked for is covered only by a wildcard held.
    let star = "[{apiGroups: [apps], resources: ['*'], verbs: [get]}]";
    assert!(check_one(&p, Written::Role(role("r", star))).is_err());
    // A name held does not cover every name.
    let named =
        "[{apiGroups: [''], resources: [configmaps], resourceNames: [settings], verbs: [get]}]";
    assert_eq!(check_one(&p, Written::Role(role("r", named))), Ok(()));
    let all = "[{apiGroups: [''], resources: [configmaps], verbs: [get]}]";
    assert!(check_one(&p, Written::Role(role("r", all))).is_err());
}

#[test]
fn escalate_and_bind_verbs_allow_what_the_account_does_not_hold() {
    let mut p = policy();
    p.roles.push(role(
        "granter",
        "[{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate]},\
          {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], resourceNames: [cluster-admin], verbs: [bind]}]",
    ));
    p.role_bindings.push(binding("granter", "Role", "granter"));
    let delete = "[{apiGroups: [apps], resources: [deployments], verbs: [delete]}]";
    assert_eq!(check_one(&p, Written::Role(role("r", delete))), Ok(()));
    let admin = binding("me", "ClusterRole", "cluster-admin");
    assert_eq!(check_one(&p, Written::RoleBinding(admin)), Ok(()));
    // `bind` on one role is not `bind` on another.
    p.cluster_roles.push(cluster_role(
        "nodes",
        "[{apiGroups: [''], resources: [nodes], verbs: [delete]}]",
    ));
    assert!(
        check_one(
            &p,
            Written::RoleBinding(binding("n", "ClusterRole", "nodes"))
        )
        .is_err()
    );
}

#[test]
fn cluster_wide_objects_need_cluster_wide_permissions() {
    let p = policy();
    // Held in `team` only: not enough for a ClusterRole or its binding.
    let get = "[{apiGroups: [apps], resources: [deployments], verbs: [get]}]";
    assert!(check_one(&p, Written::ClusterRole(cluster_role("c", get))).is_err());
    let crb: ClusterRoleBinding = yaml(
        "metadata: {name: me}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: team}]\n\
         roleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}\n",
    );
    assert!(check_one(&p, Written::ClusterRoleBinding(crb.clone())).is_err());
    // Someone bound cluster-admin cluster-wide may do both.
    let mut admin = p.clone();
    let mut own = crb;
    own.metadata.name = Some("admins".into());
    admin.cluster_role_bindings.push(own.clone());
    assert_eq!(
        check_one(&admin, Written::ClusterRole(cluster_role("c", get))),
        Ok(())
    );
    assert_eq!(check_one(&admin, Written::ClusterRoleBinding(own)), Ok(()));
}

#[test]
fn an_aggregating_cluster_role_is_judged_by_the_rules_it_picks_up() {
    let mut p = policy();
    let mut picked = cluster_role(
        "secrets",
        "[{apiGroups: [''], resources: [secrets], verbs: [get]}]",
    );
    picked.metadata.labels = Some([("agg".to_string(), "yes".to_string())].into());
    p.cluster_roles.push(picked);
    p.cluster_role_bindings.push(yaml(
        "metadata: {name: view}\nsubjects: [{kind: ServiceAccount, name: deployer, namespace: team}]\n\
         roleRef: {kind: ClusterRole, name: reader, apiGroup: rbac.authorization.k8s.io}\n",
    ));
    p.cluster_roles.push(cluster_role(
        "reader",
        "[{apiGroups: [apps], resources: [deployments], verbs: [get]}]",
    ));
    let mut agg = cluster_role("agg", "[]");
    agg.aggregation_rule = Some(yaml("clusterRoleSelectors: [{matchLabels: {agg: 'yes'}}]"));
    let err = check_one(&p, Written::ClusterRole(agg)).unwrap_err();
    assert!(err.contains("`escalate` on clusterroles \"agg\""), "{err}");
}

#[test]
fn a_binding_to_a_role_applied_with_it_is_judged_by_that_role() {
    let p = policy();
    let mut planned = p.clone();
    planned.roles.push(role(
        "fresh",
        "[{apiGroups: [''], resources: [secrets], verbs: [list]}]",
    ));
    let w = Written::RoleBinding(binding("b", "Role", "fresh"));
    assert!(check(&p, &planned, &sa(), &w).is_err());
    let mut mild = p.clone();
    mild.roles.push(role(
        "fresh",
        "[{apiGroups: [apps], resources: [deployments], verbs: [get]}]",
    ));
    assert_eq!(check(&p, &mild, &sa(), &w), Ok(()));
}

#[test]
fn written_decodes_only_rbac_kinds() {
    let v = serde_json::json!({"metadata": {"name": "x", "namespace": "team"}, "rules": []});
    assert!(matches!(
        Written::of(GROUP, "Role", &v),
        Some(Written::Role(_))
    ));
    assert!(Written::of("", "ConfigMap", &v).is_none());
    assert!(
        Written::of("example.com", "Role", &v).is_none(),
        "another group's Role"
    );
}
