//! Health of live objects through the Target seam, on a cluster with a
//! controller-manager, scheduler and a kwok node: a Deployment applied by
//! ferry becomes Healthy once its replicas are Available.

mod common;

use std::time::Duration;

use common::{ctx, eventually, obj, target};
use ferry_delivery::health::Health;
use ferry_delivery::object::LABEL_APP;
use ferry_delivery::target::Target;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_becomes_healthy() {
    let cluster = common::start_with_controllers().await;
    let t = target(&cluster).await;
    let c = ctx("web", "apps");
    let dep = obj(
        &c,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "127.0.0.1:5000/web:1"}]}}}}),
    );
    // Through the engine's seam: the context comes from ferry's labels.
    t.apply(vec![dep]).await.expect("apply");
    let health = |objs: Vec<ferry_core::objects::StoredObject>| {
        let d = objs.into_iter().find(|o| o.group_kind.kind == "Deployment");
        t.health(d.as_ref().map(|o| &o.value))
    };
    let first = health(t.list(LABEL_APP, "web").await.expect("list"));
    assert_ne!(first, Health::Missing, "list does not see the Deployment");
    eventually(
        "the Deployment to be Healthy",
        Duration::from_secs(90),
        || async {
            let h = health(t.list(LABEL_APP, "web").await.ok()?);
            (h == Health::Healthy).then_some(())
        },
    )
    .await;
}
