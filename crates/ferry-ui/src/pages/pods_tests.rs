//! Tests of the pods pages' rendering: rows from runtime objects, escaping,
//! the exec form only when the API would allow exec.

use serde_json::json;

use super::*;

fn object() -> Value {
    json!({
        "metadata": {"namespace": "shop", "name": "web-<1>", "creationTimestamp": "2026-12-07T10:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": "web:v1"}, {"name": "side", "image": "tools:1"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 2},
            {"name": "side", "ready": false, "restartCount": 0}
        ]}
    })
}

#[test]
fn rows_come_from_the_pods_spec_and_status() {
    let r = row(&object());
    assert_eq!((r.namespace.as_str(), r.name.as_str()), ("shop", "web-<1>"));
    assert_eq!(
        (r.phase.as_str(), r.ready, r.ip.as_str()),
        ("Running", 1, "10.0.0.7")
    );
    assert_eq!(r.containers[0].restarts, 2);
    assert!(!r.containers[1].ready);
    assert_eq!(row(&json!({})).phase, "Pending", "no status yet");
    let page = list(&[r]);
    assert!(
        page.contains("<a href=\"/ui/pods/shop/web-%3C1%3E\">web-&lt;1&gt;</a>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"num\">1/2</td><td class=\"num\">2</td>"),
        "{page}"
    );
    assert!(list(&[]).contains("No pods"));
}

fn page(exec_csrf: Option<&str>, exec: Option<Exec<'_>>) -> String {
    let r = row(&object());
    let log = Log {
        container: "app".into(),
        text: Ok("<b>hello</b>\n".into()),
        offset: 13,
    };
    let events = [EventRow {
        time: "t".into(),
        type_: "Normal".into(),
        reason: "Started".into(),
        message: "Started container <app>".into(),
    }];
    pod(&PodPage {
        pod: &r,
        events: &events,
        log: &log,
        exec_csrf,
        exec,
    })
}

#[test]
fn the_pod_page_escapes_logs_and_events_and_follows_from_the_offset() {
    let p = page(None, None);
    assert!(p.contains("&lt;b&gt;hello&lt;/b&gt;"), "{p}");
    assert!(!p.contains("<b>hello"));
    assert!(
        p.contains("data-log=\"/ui/pods/shop/web-%3C1%3E/logs?container=app&amp;since=13\""),
        "{p}"
    );
    assert!(p.contains("Started container &lt;app&gt;"));
    assert!(
        !p.contains("/exec\""),
        "no exec form without the right: {p}"
    );
}

#[test]
fn the_exec_form_carries_the_csrf_token_and_shows_the_output() {
    let p = page(
        Some("tok"),
        Some(("echo <hi>", Ok((0, "<hi>\n".into(), String::new())))),
    );
    assert!(
        p.contains("action=\"/ui/pods/shop/web-%3C1%3E/exec\""),
        "{p}"
    );
    assert!(p.contains("name=\"csrf\" value=\"tok\""));
    assert!(
        p.contains("value=\"echo &lt;hi&gt;\""),
        "the command stays in the field"
    );
    assert!(p.contains("Exit code <strong>0</strong>") && p.contains("&lt;hi&gt;\n</pre>"));
    let failed = page(
        Some("tok"),
        Some(("nope", Err("container `app` is not running".into()))),
    );
    assert!(
        failed.contains("role=\"alert\">container `app` is not running"),
        "{failed}"
    );
    let none = Log {
        container: "app".into(),
        text: Err("container `app` in pod `x` has no logs yet".into()),
        offset: 0,
    };
    let r = row(&object());
    let p = pod(&PodPage {
        pod: &r,
        events: &[],
        log: &none,
        exec_csrf: None,
        exec: None,
    });
    assert!(p.contains("has no logs yet") && !p.contains("data-log") && p.contains("No events."));
}
