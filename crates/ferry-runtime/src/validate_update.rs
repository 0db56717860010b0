//! Fields the API server refuses to change once an object is stored, as
//! Kubernetes does: a Job's pod template, a StatefulSet's spec beyond its
//! mutable fields, and a RoleBinding's or ClusterRoleBinding's `roleRef`
//! (changing whom a binding grants to would let an account that may only
//! edit bindings swap the role under existing subjects; Kubernetes makes
//! the user delete and re-create the binding, which the RBAC escalation
//! check then judges afresh). Pure: the old and new stored values in, the
//! refused field path and message out.

use serde_json::Value;

use crate::kinds::Kind;

/// The refusal of an update of `kind` from `old` to `new`:
/// `Some((field path, message))`, or `None` when the update is allowed.
pub fn forbidden(kind: Kind, old: &Value, new: &Value) -> Option<(&'static str, String)> {
    match kind {
        Kind::Job => {
            crate::validate_batch::template_changed(old, new).map(|m| ("spec.template", m))
        }
        Kind::StatefulSet => {
            crate::validate_statefulset::forbidden_update(old, new).map(|m| ("spec", m))
        }
        Kind::RoleBinding | Kind::ClusterRoleBinding => role_ref_changed(kind, old, new),
        _ => None,
    }
}

fn role_ref_changed(kind: Kind, old: &Value, new: &Value) -> Option<(&'static str, String)> {
    let (a, b) = (old.get("roleRef"), new.get("roleRef"));
    (a != b).then(|| {
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("NAME");
        let cli = if kind == Kind::RoleBinding {
            "rolebinding"
        } else {
            "clusterrolebinding"
        };
        (
            "roleRef",
            format!(
                "field is immutable: cannot change roleRef (from {} to {}); delete the binding \
                 (ferry delete {cli}/{name}) and apply it again",
                describe(a),
                describe(b)
            ),
        )
    })
}

fn describe(role_ref: Option<&Value>) -> String {
    let field = |f: &str| {
        role_ref
            .and_then(|r| r.get(f))
            .and_then(Value::as_str)
            .unwrap_or("?")
    };
    format!("{}/{}", field("kind"), field("name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(role_kind: &str, role: &str, subject: &str) -> Value {
        json!({
            "metadata": {"name": "b"},
            "subjects": [{"kind": "ServiceAccount", "name": subject}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        })
    }

    #[test]
    fn a_binding_may_change_its_subjects_but_not_its_role() {
        let old = binding("ClusterRole", "view", "app");
        assert_eq!(
            forbidden(
                Kind::RoleBinding,
                &old,
                &binding("ClusterRole", "view", "other")
            ),
            None
        );
        let (path, message) = forbidden(
            Kind::RoleBinding,
            &old,
            &binding("ClusterRole", "admin", "app"),
        )
        .unwrap();
        assert_eq!(path, "roleRef");
        assert!(
            message.contains("from ClusterRole/view to ClusterRole/admin"),
            "{message}"
        );
        assert!(message.contains("ferry delete rolebinding/b"), "{message}");
        let (_, message) = forbidden(
            Kind::ClusterRoleBinding,
            &old,
            &binding("Role", "view", "app"),
        )
        .unwrap();
        assert!(message.contains("clusterrolebinding/b"), "{message}");
    }

    #[test]
    fn job_templates_and_statefulset_specs_keep_their_rules() {
        let job = |image: &str| json!({"spec": {"template": {"spec": {"containers": [{"image": image}]}}}});
        assert_eq!(forbidden(Kind::Job, &job("a"), &job("a")), None);
        assert_eq!(
            forbidden(Kind::Job, &job("a"), &job("b")).unwrap().0,
            "spec.template"
        );
        let sts = |replicas: u32, service: &str| json!({"spec": {"replicas": replicas, "serviceName": service}});
        assert_eq!(
            forbidden(Kind::StatefulSet, &sts(1, "s"), &sts(3, "s")),
            None
        );
        assert_eq!(
            forbidden(Kind::StatefulSet, &sts(1, "s"), &sts(1, "t"))
                .unwrap()
                .0,
            "spec"
        );
        assert_eq!(forbidden(Kind::ConfigMap, &sts(1, "s"), &sts(1, "t")), None);
    }
}
