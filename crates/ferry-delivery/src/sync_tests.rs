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
    let res = sync(t, desired, &cmp, inv, prune, false).await.unwrap();
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
    assert!(
        sync(&t, &v2, &cmp, &res.inventory, true, false)
            .await
            .is_err()
    );
    assert_eq!(
        t.get(&res.inventory[0]).unwrap().value["spec"]["replicas"],
        1
    );
}

fn in_wave(mut o: StoredObject, wave: &str) -> StoredObject {
    o.value["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": wave});
    o
}

fn job(name: &str) -> StoredObject {
    let mut o = obj("Job", name, json!({}));
    o.value["apiVersion"] = json!("batch/v1");
    o.group_kind = GroupKind::of("batch/v1", "Job");
    o
}

#[tokio::test]
async fn a_wave_waits_until_the_previous_one_is_healthy() {
    let t = MemoryTarget::new();
    let desired = vec![
        in_wave(job("migrate"), "-1"),
        obj("Deployment", "web", json!({"replicas": 1})),
    ];
    let (_, first) = run(&t, &desired, &[], true).await;
    assert_eq!(first.applied.len(), 1, "only wave -1: {first:?}");
    assert_eq!(first.applied[0].name, "migrate");
    let waiting = first.waiting.clone().expect("wave 0 waits");
    assert!(waiting.contains("Job/migrate"), "{waiting}");
    assert!(t.get(&ObjKey::of(&desired[1])).is_none());
    assert_eq!(first.inventory.len(), 2, "applied objects stay owned");
    // Still running: nothing more is applied.
    let (_, second) = run(&t, &desired, &first.inventory, true).await;
    assert!(second.applied.is_empty() && second.waiting.is_some());
    let mut done = t.get(&first.applied[0]).unwrap();
    done.value["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]});
    t.put(done);
    let (_, third) = run(&t, &desired, &first.inventory, true).await;
    assert_eq!(third.waiting, None);
    assert_eq!(third.applied.len(), 1);
    assert_eq!(third.applied[0].name, "web");
}

#[tokio::test]
async fn waves_healthy_at_once_apply_in_one_sync_lowest_first() {
    let t = MemoryTarget::new();
    let desired = vec![
        in_wave(obj("Deployment", "web", json!({"replicas": 1})), "1"),
        obj("ConfigMap", "conf", json!({})),
    ];
    let (_, res) = run(&t, &desired, &[], false).await;
    assert_eq!(res.waiting, None);
    assert_eq!(t.applies(), 2, "one batch per wave");
    let order: Vec<_> = t.applied().into_iter().map(|k| k.name).collect();
    assert_eq!(order, ["conf", "web"]);
}
