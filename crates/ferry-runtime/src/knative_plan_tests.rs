//! The planner against Knative's documented behaviour: revision names,
//! default traffic, percent splits, tag hosts and status.

use super::*;

fn svc(traffic: &str) -> KService {
    let text = format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: hello, generation: 2}}\nspec:\n  template:\n    spec:\n      containers: [{{image: web:v1}}]\n{traffic}"
    );
    let doc = ferry_core::yaml::parse_documents("k.yaml", &text)
        .unwrap()
        .remove(0);
    crate::kinds::decode_strict(&doc).unwrap()
}

fn rev(name: &str, generation: i64, hash: &str, ready: bool) -> RevisionInfo {
    RevisionInfo {
        name: name.into(),
        generation,
        hash: hash.into(),
        ready,
    }
}

#[test]
fn the_first_template_makes_revision_00001_and_a_change_the_next() {
    let p = plan(&svc(""), "default", "h1", &[], "example.com");
    assert_eq!(p.create, Some(("hello-00001".to_string(), 1)));
    assert_eq!(p.status["url"], "http://hello.default.example.com");
    assert_eq!(p.status["conditions"][1]["status"], "Unknown");
    // Before it is ready the host still routes to it (the activator holds).
    assert_eq!(p.routes[0].targets[0].service.name, "hello-00001");
    let revs = [rev("hello-00001", 1, "h1", true)];
    let same = plan(&svc(""), "default", "h1", &revs, "example.com");
    assert_eq!(same.create, None);
    assert_eq!(same.status["conditions"][1]["status"], "True");
    assert_eq!(same.status["latestReadyRevisionName"], "hello-00001");
    let changed = plan(&svc(""), "default", "h2", &revs, "example.com");
    assert_eq!(changed.create, Some(("hello-00002".to_string(), 2)));
    // Traffic stays on the latest ready revision until the new one is ready.
    assert_eq!(changed.routes[0].targets[0].service.name, "hello-00001");
}

#[test]
fn traffic_splits_by_percent_and_tags_get_their_own_hosts() {
    let t = "  traffic:\n  - {revisionName: hello-00001, percent: 90}\n  - {latestRevision: true, percent: 10, tag: canary}\n";
    let revs = [
        rev("hello-00001", 1, "h1", true),
        rev("hello-00002", 2, "h2", true),
    ];
    let p = plan(&svc(t), "default", "h2", &revs, "example.com");
    assert_eq!(p.create, None);
    let main = &p.routes[0];
    assert_eq!(main.host, "hello.default.example.com");
    let split: Vec<(&str, u32)> = main
        .targets
        .iter()
        .map(|t| (t.service.name.as_str(), t.percent))
        .collect();
    assert_eq!(split, [("hello-00001", 90), ("hello-00002", 10)]);
    assert_eq!(p.routes[1].host, "canary-hello.default.example.com");
    assert_eq!(p.routes[1].targets[0].service.name, "hello-00002");
    assert_eq!(
        p.status["traffic"][1]["url"],
        "http://canary-hello.default.example.com"
    );
    assert_eq!(p.status["conditions"][1]["type"], "Ready");
    assert_eq!(p.status["conditions"][1]["status"], "True");
}

#[test]
fn a_missing_revision_fails_the_route_and_serves_nothing() {
    let t = "  traffic:\n  - {revisionName: hello-00009, percent: 100}\n";
    let revs = [rev("hello-00001", 1, "h1", true)];
    let p = plan(&svc(t), "default", "h1", &revs, "example.com");
    assert!(p.routes.is_empty());
    assert_eq!(p.status["conditions"][2]["status"], "False");
    assert_eq!(
        p.status["conditions"][2]["message"],
        "Revision \"hello-00009\" referenced in traffic not found."
    );
}
