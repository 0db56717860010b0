//! Server-side apply conflicts, read from the API server's message
//! (`Apply failed with 2 conflicts: conflicts with "other" using v1:` and
//! field lines) into the other field managers' names and the fields, so the
//! error tells the user whom ferry would take the fields from and how; and
//! the rule telling drift (fields edited by hand, taken back) from a
//! conflict with another applier (reported unless the app says `force`).

/// The managers (in order of first mention, no duplicates) and fields named
/// in a 409 apply conflict message.
pub fn parse(message: &str) -> (Vec<String>, Vec<String>) {
    let mut managers: Vec<String> = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find("with \"") {
        rest = &rest[i + "with \"".len()..];
        let Some(end) = rest.find('"') else { break };
        let name = rest[..end].to_string();
        if !managers.contains(&name) {
            managers.push(name);
        }
        rest = &rest[end + 1..];
    }
    // Field paths start with a dot and hold no spaces, inline
    // (`conflict with "x": .data.key`) or listed (`- .spec.replicas`).
    let fields = message
        .split_whitespace()
        .filter(|t| t.starts_with('.') && t.len() > 1)
        .map(|t| t.trim_end_matches(',').to_string())
        .collect();
    (managers, fields)
}

/// True when every conflicting manager only edited the object
/// imperatively (`managedFields` entries with operation `Update`, as
/// kubectl edit, patch and scale make): drift to take back, not another
/// tool applying its own desired state. `entries` are (manager, operation).
pub fn only_imperative(managers: &[String], entries: &[(String, String)]) -> bool {
    !managers.is_empty()
        && managers.iter().all(|m| {
            let ops: Vec<&str> = entries
                .iter()
                .filter(|(who, _)| who == m)
                .map(|(_, op)| op.as_str())
                .collect();
            !ops.is_empty() && ops.iter().all(|op| *op == "Update")
        })
}

/// The sentence ferry reports for a conflict on `object`.
pub fn describe(object: &str, managers: &[String], fields: &[String]) -> String {
    let who = if managers.is_empty() {
        "another field manager".to_string()
    } else {
        let quoted: Vec<String> = managers.iter().map(|m| format!("`{m}`")).collect();
        format!("field manager {}", quoted.join(", "))
    };
    let what = if fields.is_empty() {
        String::new()
    } else {
        format!(" ({})", fields.join(", "))
    };
    format!(
        "{object}: server-side apply conflict: {who} owns fields ferry sets{what}; \
         change the object back, or set `force: true` on the application to take the fields over"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conflict_on_one_line() {
        // As kube-apiserver 1.34 words it.
        let m = r#"Apply failed with 1 conflict: conflict with "other": .data.key"#;
        let (who, fields) = parse(m);
        assert_eq!(who, ["other"]);
        assert_eq!(fields, [".data.key"]);
        let m = r#"Apply failed with 1 conflict: conflict with "other" using v1: .data.key"#;
        assert_eq!(
            parse(m),
            (vec!["other".to_string()], vec![".data.key".to_string()])
        );
    }

    #[test]
    fn several_managers_and_field_lines() {
        let m = "Apply failed with 3 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n\
                 - .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image\n\
                 conflicts with \"helm\" using apps/v1:\n- .metadata.labels.tier";
        let (who, fields) = parse(m);
        assert_eq!(who, ["kubectl-edit", "helm"]);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0], ".spec.replicas");
    }

    #[test]
    fn imperative_edits_are_drift_and_appliers_are_conflicts() {
        let e = |m: &str, op: &str| (m.to_string(), op.to_string());
        let entries = [
            e("ferry", "Apply"),
            e("kubectl-patch", "Update"),
            e("other", "Apply"),
        ];
        assert!(only_imperative(&["kubectl-patch".into()], &entries));
        assert!(!only_imperative(&["other".into()], &entries));
        assert!(!only_imperative(
            &["kubectl-patch".into(), "other".into()],
            &entries
        ));
        assert!(!only_imperative(&[], &entries));
        assert!(
            !only_imperative(&["gone".into()], &entries),
            "unknown: report it"
        );
    }

    #[test]
    fn description_names_managers_and_says_what_to_do() {
        let d = describe(
            "ConfigMap/apps/cfg",
            &["other".into()],
            &[".data.key".into()],
        );
        assert!(d.contains("`other`"), "{d}");
        assert!(d.contains(".data.key"), "{d}");
        assert!(d.contains("force: true"), "{d}");
        assert!(describe("x", &[], &[]).contains("another field manager"));
    }
}
