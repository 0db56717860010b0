//! Unit tests of the ApplySet naming, parent metadata and prune decision.

use super::*;
use serde_json::json;

#[test]
fn id_matches_kubectls_own_test_vector() {
    // kubectl's apply_test.go: Secret my-set in namespace test.
    assert_eq!(
        applyset_id("my-set", "test", "Secret", ""),
        "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
    );
    let set = ApplySet::new("web", "dev", "web-dev");
    assert_eq!(set.name, "ferry.web.dev");
    assert_eq!(
        set.id(),
        applyset_id("ferry.web.dev", "web-dev", "Secret", "")
    );
}

#[test]
fn parent_records_sorted_kinds_and_other_namespaces() {
    let set = ApplySet::new("web", "dev", "apps");
    let kinds: BTreeSet<GroupKind> = [
        GroupKind::new("apps", "Deployment"),
        GroupKind::new("", "ConfigMap"),
        GroupKind::new("example.com", "Widget"),
    ]
    .into();
    let namespaces: BTreeSet<String> = ["apps".to_string(), "other".to_string()].into();
    let p = set.parent(&kinds, &namespaces);
    let ann = &p["metadata"]["annotations"];
    assert_eq!(
        ann[GROUP_KINDS_ANNOTATION],
        "ConfigMap,Deployment.apps,Widget.example.com"
    );
    assert_eq!(ann[NAMESPACES_ANNOTATION], "other");
    assert_eq!(ann[TOOLING_ANNOTATION], "ferry/v1");
    assert_eq!(p["metadata"]["labels"][ID_LABEL], set.id().as_str());
    let back = Recorded::of(Some(&p), "apps");
    assert_eq!(back.kinds, kinds);
    assert_eq!(back.namespaces, namespaces);
    assert_eq!(back.foreign(), None);
}

#[test]
fn group_kinds_parse_with_dotted_groups() {
    assert_eq!(
        parse_group_kind("HTTPRoute.gateway.networking.k8s.io"),
        GroupKind::new("gateway.networking.k8s.io", "HTTPRoute")
    );
    assert_eq!(parse_group_kind("Secret"), GroupKind::new("", "Secret"));
}

#[test]
fn a_set_of_another_tool_is_foreign() {
    let p = json!({"metadata": {"annotations": {TOOLING_ANNOTATION: "kubectl/v1.34.4"}}});
    assert_eq!(
        Recorded::of(Some(&p), "x").foreign(),
        Some("kubectl/v1.34.4")
    );
    assert_eq!(Recorded::of(None, "x").foreign(), None);
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "apps", "labels": labels}})
}

#[test]
fn prune_picks_only_members_that_left_the_set() {
    let id = "applyset-abc-v1";
    let live = vec![
        cm("kept", json!({PART_OF_LABEL: id})),
        cm("gone", json!({PART_OF_LABEL: id})),
        cm("other-set", json!({PART_OF_LABEL: "applyset-zzz-v1"})),
        cm("unlabelled", json!({"app.ferry.dev/name": "web"})),
    ];
    let keep: BTreeSet<ObjKey> = [ObjKey::of_value(&live[0]).unwrap()].into();
    let gone = prune_candidates(id, &live, &keep);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].name, "gone");
}
