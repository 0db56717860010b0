use super::*;
use crate::object::{LABEL_APP, LABEL_ENV, set_label};
use crate::target::MemoryTarget;
use ferry_core::objects::GroupKind;
use serde_json::{Value, json};

fn obj(kind: &str, name: &str, spec: Value) -> StoredObject {
    let api = if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    let mut value = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "dev"}, "spec": spec});
    set_label(&mut value, LABEL_APP, "web");
    set_label(&mut value, LABEL_ENV, "dev");
    StoredObject {
        group_kind: GroupKind::of(api, kind),
        namespace: Some("dev".into()),
        name: name.into(),
        source: "t".into(),
        value,
    }
}

async fn run(
    t: &MemoryTarget,
    desired: &[StoredObject],
    inv: &[ObjKey],
    prune: bool,
) -> (Comparison, SyncResult) {
    let all = t.list(LABEL_APP, "web").await.unwrap();
    let live = live_of(&all, "web", "dev");
    let cmp = compare(t, desired, &live, inv);
    let res = sync(t, desired, &cmp, inv, prune).await.unwrap();
    (cmp, res)
}

async fn status(t: &MemoryTarget, desired: &[StoredObject], inv: &[ObjKey]) -> Comparison {
    let all = t.list(LABEL_APP, "web").await.unwrap();
    compare(t, desired, &live_of(&all, "web", "dev"), inv)
}

#[tokio::test]
async fn first_sync_applies_everything_then_nothing() {
    let t = MemoryTarget::new();
    let desired = vec![
        obj("Deployment", "web", json!({"replicas": 1})),
        obj("Service", "web", json!({})),
    ];
    let (cmp, res) = run(&t, &desired, &[], false).await;
    assert_eq!(
        cmp.objects.iter().filter(|o| o.sync == "Missing").count(),
        2
    );
    assert_eq!(res.applied.len(), 2);
    assert_eq!(res.inventory.len(), 2);
    let after = status(&t, &desired, &res.inventory).await;
    assert!(after.in_sync(), "{after:?}");
    assert_eq!(after.health(), Health::Healthy);
    let (_, again) = run(&t, &desired, &res.inventory, false).await;
    assert!(again.applied.is_empty());
    assert_eq!(t.applies(), 1);
}

#[tokio::test]
async fn drift_is_reported_and_reverted() {
    let t = MemoryTarget::new();
    let desired = vec![obj("Deployment", "web", json!({"replicas": 2}))];
    let (_, res) = run(&t, &desired, &[], false).await;
    let mut changed = t.get(&res.inventory[0]).unwrap();
    changed.value["spec"]["replicas"] = json!(5);
    t.put(changed);
    let cmp = status(&t, &desired, &res.inventory).await;
    assert!(!cmp.in_sync());
    assert_eq!(cmp.objects[0].sync, "OutOfSync");
    assert_eq!(cmp.objects[0].diff[0].path, "spec.replicas");
    run(&t, &desired, &res.inventory, false).await;
    assert_eq!(
        t.get(&res.inventory[0]).unwrap().value["spec"]["replicas"],
        2
    );
}

#[tokio::test]
async fn prune_deletes_only_what_ferry_created() {
    let t = MemoryTarget::new();
    let v1 = vec![
        obj("Deployment", "web", json!({})),
        obj("Service", "old", json!({})),
    ];
    let (_, res) = run(&t, &v1, &[], true).await;
    // Someone else's object that happens to carry ferry's labels but is not
    // in the inventory must survive.
    t.put(obj("ConfigMap", "theirs", json!({})));
    let v2 = vec![obj("Deployment", "web", json!({}))];
    // Without prune the old object stays and stays owned.
    let (cmp, kept) = run(&t, &v2, &res.inventory, false).await;
    assert_eq!(cmp.extra.len(), 1);
    assert_eq!(kept.inventory.len(), 2);
    let (_, pruned) = run(&t, &v2, &kept.inventory, true).await;
    assert_eq!(pruned.pruned.len(), 1);
    assert_eq!(pruned.pruned[0].name, "old");
    assert_eq!(pruned.inventory.len(), 1);
    let names: Vec<_> = t.all().into_iter().map(|o| o.name).collect();
    assert_eq!(names, ["theirs", "web"]);
}

#[tokio::test]
async fn failed_apply_changes_nothing() {
    let t = MemoryTarget::new();
    let v1 = vec![obj("Deployment", "web", json!({"replicas": 1}))];
    let (_, res) = run(&t, &v1, &[], false).await;
    t.fail_applies(Some("rejected"));
    let v2 = vec![obj("Deployment", "web", json!({"replicas": 3}))];
    let all = t.list(LABEL_APP, "web").await.unwrap();
    let cmp = compare(&t, &v2, &live_of(&all, "web", "dev"), &res.inventory);
    assert!(sync(&t, &v2, &cmp, &res.inventory, true).await.is_err());
    assert_eq!(
        t.get(&res.inventory[0]).unwrap().value["spec"]["replicas"],
        1
    );
}
