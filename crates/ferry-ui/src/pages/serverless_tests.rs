//! The serverless page rendered from runtime objects as the API renders
//! them: a Service with two Revisions, one carrying `status.lastColdStart`.

use serde_json::{Value, json};

use super::*;

fn fixture() -> (Vec<Value>, Vec<Value>) {
    let svc = json!({
        "metadata": {"namespace": "fn", "name": "hello<b>"},
        "status": {"url": "http://hello.fn.example", "traffic": [
            {"revisionName": "hello<b>-00002", "percent": 80},
            {"revisionName": "hello<b>-00001", "percent": 20},
        ]},
    });
    let label = json!({"serving.knative.dev/service": "hello<b>"});
    let cold = json!({
        "metadata": {"namespace": "fn", "name": "hello<b>-00002", "labels": label},
        "status": {"actualReplicas": 1, "desiredReplicas": 2, "lastColdStart": {
            "time": "2026-12-07T12:00:00Z", "totalSeconds": 0.1234,
            "phaseSeconds": {"schedule": 0.01, "image": 0.0002, "rootfs": 0.02,
                "process": 0.05, "readiness": 0.0432}}},
    });
    let warm = json!({
        "metadata": {"namespace": "fn", "name": "hello<b>-00001", "labels": label},
        "status": {"actualReplicas": 0, "desiredReplicas": 0},
    });
    let other_ns = json!({
        "metadata": {"namespace": "other", "name": "hello<b>-00009", "labels": label},
    });
    (vec![svc], vec![warm, other_ns, cold])
}

#[test]
fn revisions_belong_to_their_service_with_traffic_and_cold_start() {
    let (svcs, revs) = fixture();
    let rows = rows(&svcs, &revs);
    assert_eq!(rows.len(), 1);
    let r = &rows[0].revisions;
    let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["hello<b>-00002", "hello<b>-00001"],
        "same namespace, newest first"
    );
    assert_eq!((r[0].ready, r[0].desired, r[0].percent), (1, 2, 80));
    assert_eq!(r[1].percent, 20);
    let c = r[0].cold.as_ref().unwrap();
    assert_eq!(c.phases, [0.01, 0.0002, 0.02, 0.05, 0.0432]);
    assert_eq!(r[1].cold, None);
}

#[test]
fn the_page_shows_each_phase_in_milliseconds_and_escapes_names() {
    let (svcs, revs) = fixture();
    let page = serverless(&rows(&svcs, &revs));
    assert!(page.contains("<strong>123.4 ms</strong> total"), "{page}");
    for (phase, ms) in [
        ("schedule", "10.0"),
        ("image", "0.2"),
        ("rootfs", "20.0"),
        ("process", "50.0"),
        ("readiness", "43.2"),
    ] {
        let dd = format!("<dt>{phase}</dt><dd><meter min=\"0\" max=\"0.1234\"");
        assert!(page.contains(&dd), "{phase}: {page}");
        assert!(
            page.contains(&format!("<span class=\"phase-ms\">{ms} ms</span>")),
            "{phase} {ms}: {page}"
        );
    }
    assert!(page.contains("<td class=\"num\">80%</td>"));
    assert!(page.contains("<td class=\"num\">1 / 2</td>"));
    assert!(page.contains("none yet"), "the revision without one");
    assert!(!page.contains("<b>"), "names are escaped: {page}");
    assert!(page.contains("hello&lt;b&gt;-00002"));
    assert!(!page.contains("00009"), "another namespace's revision");
}

#[test]
fn no_services_says_so() {
    assert!(serverless(&[]).contains("No Knative Services"));
}
