//! The checks Kubernetes' API server makes on ServiceAccounts and the RBAC
//! kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding), each problem
//! naming file, document and field path: rules need verbs, resources with
//! API groups (or, in ClusterRoles, non-resource URLs); a binding refers to
//! a Role or ClusterRole of `rbac.authorization.k8s.io` (a
//! ClusterRoleBinding to a ClusterRole only) and names its subjects
//! correctly (a ServiceAccount in the core group, with a namespace in a
//! ClusterRoleBinding; Users and Groups in the RBAC group). A verb that is
//! a near miss of a standard one (`lsit`) is an error with the suggestion;
//! other verbs are accepted, as custom resources define their own.

use ferry_core::Problem;
use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use crate::kinds::{Kind, decode_strict};

const GROUP: &str = "rbac.authorization.k8s.io";

/// Verbs Kubernetes and its RBAC know.
const VERBS: [&str; 16] = [
    "*",
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "escalate",
    "impersonate",
    "approve",
    "sign",
    "proxy",
];

/// Checks a document of one of the account kinds; false for other kinds.
pub fn check(doc: &Document, kind: Kind, found: &mut Vec<Problem>) -> bool {
    macro_rules! decode {
        ($t:ty) => {
            match decode_strict::<$t>(doc) {
                Ok(v) => v,
                Err(p) => {
                    found.push(p);
                    return true;
                }
            }
        };
    }
    match kind {
        Kind::ServiceAccount => drop(decode!(ServiceAccount)),
        Kind::Role => rules(doc, decode!(Role).rules.as_deref(), true, found),
        Kind::ClusterRole => {
            let role = decode!(ClusterRole);
            rules(doc, role.rules.as_deref(), false, found);
            let selectors = role.aggregation_rule.and_then(|a| a.cluster_role_selectors);
            for (i, s) in selectors.iter().flatten().enumerate() {
                let at = format!("aggregationRule.clusterRoleSelectors[{i}]");
                let mut bad = Vec::new();
                crate::netpol_spec::selector(&at, s, &mut bad);
                found.extend(bad.into_iter().map(|(path, m)| doc.problem(&path, m)));
            }
        }
        Kind::RoleBinding => {
            let b = decode!(RoleBinding);
            role_ref(doc, &b.role_ref, true, found);
            subjects(doc, b.subjects.as_deref(), true, found);
        }
        Kind::ClusterRoleBinding => {
            let b = decode!(ClusterRoleBinding);
            role_ref(doc, &b.role_ref, false, found);
            subjects(doc, b.subjects.as_deref(), false, found);
        }
        _ => return false,
    }
    true
}

/// `metadata.name` of the RBAC kinds: a path segment, as Kubernetes allows
/// there (`system:aggregate-to-view`): not empty, `.` or `..`, no `/` or `%`.
pub fn path_segment_name(doc: &Document, name: Option<&str>, out: &mut Vec<Problem>) {
    match name {
        None | Some("") => out.push(doc.problem("metadata.name", "a name is required")),
        Some(n @ ("." | "..")) => {
            out.push(doc.problem("metadata.name", format!("`{n}` is not a valid name")))
        }
        Some(n) if n.contains(['/', '%']) => out.push(doc.problem(
            "metadata.name",
            format!("`{n}` is not a valid name: it may not contain '/' or '%'"),
        )),
        _ => {}
    }
}

fn rules(doc: &Document, rules: Option<&[PolicyRule]>, namespaced: bool, found: &mut Vec<Problem>) {
    for (i, r) in rules.into_iter().flatten().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        if r.verbs.is_empty() {
            found.push(doc.problem(&at("verbs"), "at least one verb is required (get, list, watch, create, update, patch, delete or *)"));
        }
        for (j, v) in r.verbs.iter().enumerate() {
            if VERBS.contains(&v.as_str()) {
                continue;
            }
            if let Some(near) = ferry_core::error::nearest(v, VERBS) {
                found.push(
                    doc.problem(
                        &format!("rules[{i}].verbs[{j}]"),
                        format!("unknown verb `{v}`"),
                    )
                    .with_suggestion(Some(near)),
                );
            }
        }
        let urls = r.non_resource_urls.as_deref().unwrap_or_default();
        let resources = r.resources.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            if namespaced {
                found.push(doc.problem(
                    &at("nonResourceURLs"),
                    "a Role is namespaced and cannot grant non-resource URLs; use a ClusterRole",
                ));
            }
            if !resources.is_empty() {
                found.push(doc.problem(
                    &at("nonResourceURLs"),
                    "a rule grants either resources or nonResourceURLs, not both",
                ));
            }
            continue;
        }
        if r.api_groups.as_deref().unwrap_or_default().is_empty() {
            found.push(doc.problem(&at("apiGroups"), "resource rules need at least one API group (\"\" is the core group: pods, configmaps, secrets…)"));
        }
        if resources.is_empty() {
            found.push(doc.problem(
                &at("resources"),
                "resource rules need at least one resource (plural, like pods, or *)",
            ));
        }
    }
}

fn role_ref(doc: &Document, r: &RoleRef, namespaced: bool, found: &mut Vec<Problem>) {
    if r.api_group != GROUP {
        found.push(doc.problem(
            "roleRef.apiGroup",
            format!("`{}` is not `{GROUP}`", r.api_group),
        ));
    }
    match r.kind.as_str() {
        "ClusterRole" => {}
        "Role" if namespaced => {}
        "Role" => found.push(doc.problem(
            "roleRef.kind",
            "a ClusterRoleBinding refers to a ClusterRole; bind a Role with a RoleBinding",
        )),
        other => found.push(doc.problem(
            "roleRef.kind",
            format!("`{other}` is not Role or ClusterRole"),
        )),
    }
    if r.name.is_empty() {
        found.push(doc.problem("roleRef.name", "the name of the role to bind is required"));
    }
}

fn subjects(
    doc: &Document,
    subjects: Option<&[Subject]>,
    namespaced: bool,
    found: &mut Vec<Problem>,
) {
    for (i, s) in subjects.into_iter().flatten().enumerate() {
        let at = |f: &str| format!("subjects[{i}].{f}");
        let group = s.api_group.as_deref().unwrap_or_default();
        if s.name.is_empty() {
            found.push(doc.problem(&at("name"), "a subject needs a name"));
        }
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !group.is_empty() {
                    found.push(doc.problem(
                        &at("apiGroup"),
                        format!("a ServiceAccount is in the core group (\"\"), not `{group}`"),
                    ));
                }
                if !namespaced && s.namespace.as_deref().is_none_or(str::is_empty) {
                    found.push(doc.problem(
                        &at("namespace"),
                        "a ClusterRoleBinding's ServiceAccount subject needs its namespace",
                    ));
                }
            }
            "User" | "Group" if group != GROUP => found.push(doc.problem(
                &at("apiGroup"),
                format!("a {} subject needs apiGroup: {GROUP}", s.kind),
            )),
            "User" | "Group" => {}
            other => found.push(
                doc.problem(
                    &at("kind"),
                    format!("`{other}` is not ServiceAccount, User or Group"),
                )
                .with_suggestion(ferry_core::error::nearest(
                    other,
                    ["ServiceAccount", "User", "Group"],
                )),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(kind: Kind, text: &str) -> Vec<String> {
        let doc = ferry_core::yaml::parse_documents("rbac.yaml", text)
            .unwrap()
            .remove(0);
        let mut found = Vec::new();
        assert!(check(&doc, kind, &mut found));
        found.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_documented_role_and_binding_are_valid() {
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {namespace: default, name: pod-reader}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, watch, list]\n";
        assert_eq!(problems(Kind::Role, role), Vec::<String>::new());
        let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: read-pods}\nsubjects:\n- {kind: ServiceAccount, name: app}\n- {kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}\nroleRef: {kind: Role, name: pod-reader, apiGroup: rbac.authorization.k8s.io}\n";
        assert_eq!(problems(Kind::RoleBinding, binding), Vec::<String>::new());
        let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\nautomountServiceAccountToken: false\nimagePullSecrets: [{name: reg}]\n";
        assert_eq!(problems(Kind::ServiceAccount, sa), Vec::<String>::new());
    }

    #[test]
    fn rule_problems_name_their_field() {
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules:\n- resources: [pods]\n  verbs: [lsit]\n- apiGroups: [\"\"]\n  verbs: []\n- nonResourceURLs: [/healthz]\n  verbs: [get]\n";
        let p = problems(Kind::Role, role).join("\n");
        for want in [
            "field `rules[0].verbs[0]`: unknown verb `lsit`",
            "did you mean `list`",
            "field `rules[0].apiGroups`",
            "field `rules[1].verbs`",
            "field `rules[1].resources`",
            "field `rules[2].nonResourceURLs`: a Role is namespaced",
        ] {
            assert!(p.contains(want), "{want} in\n{p}");
        }
        let custom = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules:\n- apiGroups: [policy]\n  resources: [podsecuritypolicies]\n  verbs: [use]\n- nonResourceURLs: [/metrics]\n  verbs: [get]\n";
        assert_eq!(problems(Kind::ClusterRole, custom), Vec::<String>::new());
    }

    #[test]
    fn aggregation_selectors_are_checked_like_label_selectors() {
        let role = |selector: &str| {
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: r}}\naggregationRule:\n  clusterRoleSelectors:\n  - {selector}\n"
            )
        };
        let ok = role("matchExpressions: [{key: tier, operator: In, values: [web]}]");
        assert_eq!(problems(Kind::ClusterRole, &ok), Vec::<String>::new());
        let bad = problems(
            Kind::ClusterRole,
            &role("matchExpressions: [{key: tier, operator: Gt, values: ['1']}]"),
        );
        let bad = bad.join("\n");
        assert!(
            bad.contains("field `aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator`: Unsupported value: \"Gt\""),
            "{bad}"
        );
        let bad = problems(
            Kind::ClusterRole,
            &role("matchExpressions: [{key: tier, operator: In}]"),
        )
        .join("\n");
        assert!(
            bad.contains("clusterRoleSelectors[0].matchExpressions[0].values"),
            "{bad}"
        );
    }

    #[test]
    fn binding_problems_name_their_field() {
        let b = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nsubjects:\n- {kind: ServiceAccount, name: app}\n- {kind: Group, name: devs}\n- {kind: Robot, name: r}\nroleRef: {kind: Role, name: x, apiGroup: rbac.authorization.k8s.io}\n";
        let p = problems(Kind::ClusterRoleBinding, b).join("\n");
        for want in [
            "field `roleRef.kind`: a ClusterRoleBinding refers to a ClusterRole",
            "field `subjects[0].namespace`",
            "field `subjects[1].apiGroup`",
            "field `subjects[2].kind`",
        ] {
            assert!(p.contains(want), "{want} in\n{p}");
        }
        let missing = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\nroleRef: {kind: Role, name: x}\n";
        let p = problems(Kind::RoleBinding, missing).join("\n");
        assert!(p.contains("roleRef"), "{p}");
    }
}
