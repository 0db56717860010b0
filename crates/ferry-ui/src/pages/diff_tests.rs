//! Tests of the diff page: unified lines per field, escaping, the
//! environment's error and the "matches" note.

use super::*;

fn env(objects: Vec<ObjectDiff>, error: Option<&str>) -> EnvDiff {
    EnvDiff {
        environment: "dev".into(),
        revision: Some("0123456789abcdef".into()),
        cluster: None,
        dry_run: "server",
        objects,
        error: error.map(Into::into),
    }
}

#[test]
fn a_changed_field_is_a_removal_and_an_addition_and_values_are_escaped() {
    let o = ObjectDiff {
        object: "Deployment.apps/dev/web".into(),
        sync: "OutOfSync",
        diff: vec![
            "spec.replicas: 2 → 3".into(),
            "metadata.labels.x: <absent> → <script>".into(),
            "spec.paused: true → <absent>".into(),
        ],
    };
    let html = page("web", Some("dev"), &[env(vec![o], None)]);
    assert!(html.contains("--- live\n+++ desired"), "{html}");
    assert!(html.contains("<del class=\"rm\">- spec.replicas: 2</del>"));
    assert!(html.contains("<ins class=\"add\">+ spec.replicas: 3</ins>"));
    assert!(html.contains("<ins class=\"add\">+ metadata.labels.x: &lt;script&gt;</ins>"));
    assert!(
        !html.contains("- metadata.labels.x"),
        "absent live: no line"
    );
    assert!(html.contains("<del class=\"rm\">- spec.paused: true</del>"));
    assert!(!html.contains("+ spec.paused"), "absent desired: no line");
    assert!(!html.contains("<script>"));
    assert!(html.contains("href=\"/ui/apps/web?env=dev\""));
    assert!(html.contains("<code>0123456</code>"), "{html}");
}

#[test]
fn missing_and_extra_objects_and_errors_and_matches_read_plainly() {
    let missing = ObjectDiff {
        object: "Service/dev/web".into(),
        sync: "Missing",
        diff: vec![],
    };
    let extra = ObjectDiff {
        object: "ConfigMap/dev/old".into(),
        sync: "Extra",
        diff: vec![],
    };
    let html = page("web", None, &[env(vec![missing, extra], None)]);
    assert!(html.contains("+ Service/dev/web"), "{html}");
    assert!(html.contains("- ConfigMap/dev/old"), "{html}");
    let html = page("web", None, &[env(vec![], Some("render failed: <x>"))]);
    assert!(html.contains("render failed: &lt;x&gt;"), "{html}");
    assert!(!html.contains("Live matches"));
    let html = page("web", None, &[env(vec![], None)]);
    assert!(html.contains("Live matches desired."));
}

#[test]
fn split_reads_the_engines_lines() {
    assert_eq!(split("a.b: 1 → 2"), ("a.b", "1", "2"));
    assert_eq!(split("a: x: y → z"), ("a", "x: y", "z"));
    assert_eq!(split("odd"), ("odd", ABSENT, ABSENT));
}
