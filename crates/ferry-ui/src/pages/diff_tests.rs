//! Tests of the diff page: unified lines per field, escaping, the
//! environment's error and the "matches" note.

use super::*;
use serde_json::json;

fn change(path: &str, live: Option<Value>, desired: Option<Value>) -> Change {
    Change {
        path: path.into(),
        live,
        desired,
    }
}

fn out_of_sync(changes: Vec<Change>) -> ObjectDiff {
    ObjectDiff {
        object: "ConfigMap/dev/web".into(),
        sync: "OutOfSync",
        changes,
        note: None,
    }
}

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
        changes: vec![
            change("spec.replicas", Some(json!(2)), Some(json!(3))),
            change("metadata.labels.x", None, Some(json!("<script>"))),
            change("spec.paused", Some(json!(true)), None),
        ],
        note: None,
    };
    let html = page("web", Some("dev"), &[env(vec![o], None)], Duration::ZERO);
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
        changes: vec![],
        note: None,
    };
    let extra = ObjectDiff {
        object: "ConfigMap/dev/old".into(),
        sync: "Extra",
        changes: vec![],
        note: Some("not in git: a sync with prune on deletes it".into()),
    };
    let html = page(
        "web",
        None,
        &[env(vec![missing, extra], None)],
        Duration::ZERO,
    );
    assert!(html.contains("+ Service/dev/web"), "{html}");
    assert!(html.contains("- ConfigMap/dev/old"), "{html}");
    assert!(
        html.contains("<span class=\"hunk\"># not in git: a sync with prune on deletes it</span>"),
        "the note is a comment, not an added line: {html}"
    );
    let html = page(
        "web",
        None,
        &[env(vec![], Some("render failed: <x>"))],
        Duration::ZERO,
    );
    assert!(html.contains("render failed: &lt;x&gt;"), "{html}");
    assert!(!html.contains("Live matches"));
    let html = page("web", None, &[env(vec![], None)], Duration::ZERO);
    assert!(html.contains("Live matches desired."));
    assert!(!html.contains("reused"), "run for this request");
    let html = page(
        "web",
        None,
        &[env(vec![], None)],
        Duration::from_millis(2500),
    );
    assert!(
        html.contains("ran 2.5 s ago for another request and is reused"),
        "{html}"
    );
}

#[test]
fn a_value_containing_the_arrow_stays_whole() {
    let o = out_of_sync(vec![change(
        "data.route",
        Some(json!("a → b")),
        Some(json!("a → c")),
    )]);
    let html = page("web", None, &[env(vec![o], None)], Duration::ZERO);
    assert!(
        html.contains("<del class=\"rm\">- data.route: a → b</del>"),
        "{html}"
    );
    assert!(html.contains("<ins class=\"add\">+ data.route: a → c</ins>"));
}

#[test]
fn multi_line_values_compare_line_by_line_under_their_path() {
    let o = out_of_sync(vec![
        change(
            "data.app.conf",
            Some(json!("port: 80\nhost: <a>\nmode: fast")),
            Some(json!("port: 80\nhost: b → c\nmode: fast")),
        ),
        change("data.new", None, Some(json!("one\ntwo"))),
        change(
            "spec.ports",
            Some(json!([{"port": 80}])),
            Some(json!([{"port": 81}])),
        ),
    ]);
    let html = page("web", None, &[env(vec![o], None)], Duration::ZERO);
    let want = "<span class=\"hunk\">  data.app.conf:</span>\n    port: 80\n\
        <del class=\"rm\">-   host: &lt;a&gt;</del>\n\
        <ins class=\"add\">+   host: b → c</ins>\n    mode: fast\n";
    assert!(html.contains(want), "{html}");
    let want = "<span class=\"hunk\">  data.new:</span>\n\
        <ins class=\"add\">+   one</ins>\n<ins class=\"add\">+   two</ins>\n";
    assert!(html.contains(want), "absent live: only + lines: {html}");
    assert!(
        html.contains("<del class=\"rm\">-       &quot;port&quot;: 80</del>\n<ins class=\"add\">+       &quot;port&quot;: 81</ins>"),
        "an array reads as indented JSON, only its changed line marked: {html}"
    );
}
