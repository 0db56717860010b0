//! The Kubernetes RBAC documentation's examples, evaluated.

use super::*;

fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_saphyr::from_str(text).unwrap()
}

fn sa(ns: &str, name: &str) -> ServiceAccountRef {
    ServiceAccountRef {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn req(verb: &str, group: &str, resource: &str, ns: Option<&str>, name: Option<&str>) -> Request {
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (resource.to_string(), None),
    };
    Request {
        verb: verb.into(),
        group: group.into(),
        resource,
        subresource: sub,
        namespace: ns.map(Into::into),
        name: name.map(Into::into),
    }
}

/// "A Role granting get/list/watch on pods in namespace default" and "a
/// RoleBinding to a service account".
fn pod_reader() -> Policy {
    Policy {
        roles: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {namespace: default, name: pod-reader}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, watch, list]\n",
        )],
        role_bindings: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: read-pods, namespace: default}\nsubjects:\n- kind: ServiceAccount\n  name: app\nroleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}\n",
        )],
        ..Policy::default()
    }
}

#[test]
fn a_role_grants_its_verbs_on_its_resources_in_its_namespace_only() {
    let p = pod_reader();
    let app = sa("default", "app");
    assert!(allows(
        &p,
        &app,
        &req("list", "", "pods", Some("default"), None)
    ));
    assert!(allows(
        &p,
        &app,
        &req("get", "", "pods", Some("default"), Some("web"))
    ));
    assert!(!allows(
        &p,
        &app,
        &req("delete", "", "pods", Some("default"), Some("web"))
    ));
    assert!(!allows(
        &p,
        &app,
        &req("list", "", "secrets", Some("default"), None)
    ));
    assert!(!allows(
        &p,
        &app,
        &req("list", "", "pods", Some("other"), None)
    ));
    assert!(
        !allows(&p, &app, &req("list", "", "pods", None, None)),
        "every namespace"
    );
    assert!(!allows(
        &p,
        &app,
        &req("get", "", "pods/log", Some("default"), Some("web"))
    ));
    assert!(!allows(
        &p,
        &app,
        &req("list", "apps", "pods", Some("default"), None)
    ));
    // Another account, or the same name in another namespace: nothing.
    assert!(!allows(
        &p,
        &sa("default", "other"),
        &req("list", "", "pods", Some("default"), None)
    ));
    assert!(!allows(
        &p,
        &sa("team", "app"),
        &req("list", "", "pods", Some("default"), None)
    ));
}

#[test]
fn a_cluster_role_bound_by_a_role_binding_is_limited_to_that_namespace() {
    let p = Policy {
        cluster_roles: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: secret-reader}\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get, watch, list]\n",
        )],
        role_bindings: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: read-secrets, namespace: development}\nsubjects:\n- kind: ServiceAccount\n  name: dave\n  namespace: development\nroleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}\n",
        )],
        ..Policy::default()
    };
    let dave = sa("development", "dave");
    assert!(allows(
        &p,
        &dave,
        &req("get", "", "secrets", Some("development"), Some("db"))
    ));
    assert!(!allows(
        &p,
        &dave,
        &req("get", "", "secrets", Some("production"), Some("db"))
    ));
    assert!(!allows(&p, &dave, &req("list", "", "secrets", None, None)));
}

#[test]
fn a_cluster_role_binding_grants_everywhere_and_groups_match() {
    let mut p = Policy {
        cluster_roles: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: secret-reader}\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get, watch, list]\n",
        )],
        cluster_role_bindings: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: read-secrets-global}\nsubjects:\n- kind: Group\n  name: system:serviceaccounts:qa\n  apiGroup: rbac.authorization.k8s.io\nroleRef: {kind: ClusterRole, name: secret-reader, apiGroup: rbac.authorization.k8s.io}\n",
        )],
        ..Policy::default()
    };
    let qa = sa("qa", "tester");
    assert!(allows(&p, &qa, &req("list", "", "secrets", None, None)));
    assert!(allows(
        &p,
        &qa,
        &req("get", "", "secrets", Some("prod"), Some("db"))
    ));
    assert!(!allows(
        &p,
        &sa("dev", "tester"),
        &req("list", "", "secrets", None, None)
    ));
    // A ClusterRoleBinding may not refer to a Role.
    p.cluster_role_bindings[0].role_ref.kind = "Role".into();
    assert!(!allows(&p, &qa, &req("list", "", "secrets", None, None)));
}

#[test]
fn resource_names_restrict_to_named_objects_and_never_allow_lists() {
    let p = Policy {
        roles: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {namespace: default, name: configmap-updater}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  resourceNames: [my-configmap]\n  verbs: [update, get]\n",
        )],
        role_bindings: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: default}\nsubjects:\n- {kind: User, name: \"system:serviceaccount:default:app\"}\nroleRef: {kind: Role, name: configmap-updater, apiGroup: rbac.authorization.k8s.io}\n",
        )],
        ..Policy::default()
    };
    let app = sa("default", "app");
    let cm = |verb, name| req(verb, "", "configmaps", Some("default"), name);
    assert!(allows(&p, &app, &cm("get", Some("my-configmap"))));
    assert!(allows(&p, &app, &cm("update", Some("my-configmap"))));
    assert!(!allows(&p, &app, &cm("get", Some("other"))));
    assert!(!allows(&p, &app, &cm("list", None)));
}

#[test]
fn wildcards_and_subresources() {
    let rule: PolicyRule =
        yaml("apiGroups: [apps]\nresources: [\"*/scale\", deployments]\nverbs: [\"*\"]\n");
    assert!(rule_matches(
        &rule,
        &req("patch", "apps", "deployments/scale", Some("a"), Some("w"))
    ));
    assert!(rule_matches(
        &rule,
        &req("delete", "apps", "deployments", Some("a"), Some("w"))
    ));
    assert!(rule_matches(
        &rule,
        &req("update", "apps", "replicasets/scale", Some("a"), Some("w"))
    ));
    assert!(!rule_matches(
        &rule,
        &req("get", "apps", "replicasets", Some("a"), Some("w"))
    ));
    let all: PolicyRule = yaml("apiGroups: [\"*\"]\nresources: [\"*\"]\nverbs: [\"*\"]\n");
    assert!(rule_matches(
        &all,
        &req("get", "", "pods/log", Some("a"), Some("p"))
    ));
}

#[test]
fn an_aggregated_cluster_role_gains_the_rules_of_the_roles_it_selects() {
    let p = Policy {
        cluster_roles: vec![
            yaml(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: monitoring}\naggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {rbac.example.com/aggregate-to-monitoring: \"true\"}\nrules: []\n",
            ),
            yaml(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: monitoring-endpoints\n  labels: {rbac.example.com/aggregate-to-monitoring: \"true\"}\nrules:\n- apiGroups: [\"\"]\n  resources: [services, pods]\n  verbs: [get, list, watch]\n",
            ),
        ],
        cluster_role_bindings: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: m}\nsubjects:\n- {kind: ServiceAccount, name: prom, namespace: mon}\nroleRef: {kind: ClusterRole, name: monitoring, apiGroup: rbac.authorization.k8s.io}\n",
        )],
        ..Policy::default()
    };
    assert!(allows(
        &p,
        &sa("mon", "prom"),
        &req("list", "", "services", None, None)
    ));
    assert!(!allows(
        &p,
        &sa("mon", "prom"),
        &req("list", "", "secrets", None, None)
    ));
}

#[test]
fn aggregation_selectors_match_expressions_and_an_empty_one_picks_nothing() {
    let role = |name: &str, tier: &str, resource: &str| {
        yaml(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n  labels: {{tier: {tier}}}\nrules:\n- apiGroups: [\"\"]\n  resources: [{resource}]\n  verbs: [get]\n"
        ))
    };
    let aggregating = |selectors: &str| {
        yaml(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: agg}}\naggregationRule:\n  clusterRoleSelectors: {selectors}\n"
        ))
    };
    let policy = |selectors: &str| Policy {
        cluster_roles: vec![
            aggregating(selectors),
            role("reads-pods", "web", "pods"),
            role("reads-secrets", "db", "secrets"),
            role("reads-nodes", "infra", "nodes"),
        ],
        ..Policy::default()
    };
    let names = |p: &Policy| {
        let mut r: Vec<String> = cluster_role_rules(p, "agg")
            .into_iter()
            .flat_map(|r| r.resources.unwrap_or_default())
            .collect();
        r.sort();
        r
    };
    let p = policy("[{matchExpressions: [{key: tier, operator: In, values: [web, db]}]}]");
    assert_eq!(names(&p), ["pods", "secrets"]);
    let p = policy("[{matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}]");
    assert_eq!(names(&p), ["nodes", "pods"]);
    let p =
        policy("[{matchLabels: {tier: web}, matchExpressions: [{key: tier, operator: Exists}]}]");
    assert_eq!(names(&p), ["pods"]);
    let p = policy("[{matchExpressions: [{key: tier, operator: Gt, values: ['1']}]}]");
    assert!(names(&p).is_empty(), "an unknown operator picks nothing");
    assert!(
        names(&policy("[{}]")).is_empty(),
        "an empty selector picks nothing"
    );
}

#[test]
fn the_default_cluster_role_holds_in_the_accounts_own_namespace_only() {
    let mut p = Policy {
        cluster_roles: vec![yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: view}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n",
        )],
        ..Policy::default()
    };
    let app = sa("team", "default");
    let pods = |ns| req("list", "", "pods", ns, None);
    assert!(
        !allows(&p, &app, &pods(Some("team"))),
        "none without a default"
    );
    p.default_cluster_role = Some("view".into());
    assert!(allows(&p, &app, &pods(Some("team"))));
    assert!(!allows(&p, &app, &pods(Some("other"))));
    assert!(!allows(&p, &app, &pods(None)));
    assert!(!allows(
        &p,
        &app,
        &req("list", "", "secrets", Some("team"), None)
    ));
}
