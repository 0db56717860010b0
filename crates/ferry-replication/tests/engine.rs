//! Replication between two real registries (ferry's own, served on
//! loopback ports): event-driven copies, convergence after the target was
//! down, the reconcile pass, a queue that survives a restart, and the API.

mod common;

use std::time::Duration;

use common::*;
use ferry_core::events::{Event, EventBus};
use ferry_image::Store;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn target_stopped_while_pushing_converges_when_it_starts() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b_addr = ferry_test_support::free_addr();
    let shutdown = CancellationToken::new();
    let mut replicated = bus.subscribe();
    let engine = engine(
        dir.path().join("state"),
        vec![rule("a-to-b", &["team/*"])],
        a.addr,
        b_addr,
        &bus,
        shutdown.clone(),
    );
    let store = Store::open(dir.path().join("store")).unwrap();
    let mut digests = Vec::new();
    for i in 0..3 {
        digests.push(
            push_small(
                &store,
                &a.host(),
                "team/app",
                &format!("v{i}"),
                &format!("content {i}"),
            )
            .await,
        );
    }
    push_small(&store, &a.host(), "other/app", "v0", "not replicated").await;
    // B is down: tasks wait, failing and retrying.
    eventually("failed attempts against the stopped target", 20, || async {
        status(&engine, "a-to-b").failures > 0
    })
    .await;
    let s = status(&engine, "a-to-b");
    assert_eq!(s.pending, 3, "{s:?}");
    assert!(
        s.last_error
            .as_deref()
            .unwrap_or("")
            .contains(&b_addr.to_string()),
        "{s:?}"
    );

    let b = Reg::start("b", dir.path(), &bus, b_addr).await;
    for (i, d) in digests.iter().enumerate() {
        let tag = format!("v{i}");
        eventually(&format!("team/app:{tag} in b"), 30, || async {
            digest_in(&b.host(), "team/app", &tag).await.as_deref() == Some(d.as_str())
        })
        .await;
    }
    assert_eq!(
        digest_in(&b.host(), "other/app", "v0").await,
        None,
        "repository glob respected"
    );
    eventually("an empty queue", 10, || async {
        status(&engine, "a-to-b").pending == 0
    })
    .await;
    let s = status(&engine, "a-to-b");
    assert_eq!(s.replicated, 3);
    assert!(s.last_success.is_some());
    // ImageReplicated was published for each.
    let mut seen = 0;
    while let Ok(e) = replicated.try_recv() {
        if let Event::ImageReplicated {
            target, repository, ..
        } = &*e
        {
            assert_eq!((target.as_str(), repository.as_str()), ("b", "team/app"));
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    shutdown.cancel();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn image_pushed_before_the_rule_existed_is_copied_by_reconcile() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b = Reg::start("b", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let store = Store::open(dir.path().join("store")).unwrap();
    let old = push_small(&store, &a.host(), "team/legacy", "v1", "old").await;
    // Only now does the rule (and its engine) exist; the push event is long gone.
    let shutdown = CancellationToken::new();
    let engine = engine(
        dir.path().join("state"),
        vec![rule("late", &[])],
        a.addr,
        b.addr,
        &bus,
        shutdown.clone(),
    );
    eventually("the reconcile pass to copy team/legacy:v1", 30, || async {
        digest_in(&b.host(), "team/legacy", "v1").await.as_deref() == Some(old.as_str())
    })
    .await;
    assert!(status(&engine, "late").last_reconcile.is_some());
    shutdown.cancel();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_queue_survives_an_engine_restart() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b_addr = ferry_test_support::free_addr();
    let state = dir.path().join("state");
    let first = CancellationToken::new();
    let e1 = engine(
        state.clone(),
        vec![rule("r", &[])],
        a.addr,
        b_addr,
        &bus,
        first.clone(),
    );
    let d = push_small(&store_in(dir.path()), &a.host(), "team/q", "v1", "queued").await;
    eventually("the task to be queued", 10, || async {
        status(&e1, "r").pending == 1
    })
    .await;
    first.cancel();
    let files: Vec<_> = std::fs::read_dir(state.join("queue")).unwrap().collect();
    assert_eq!(files.len(), 1, "the task is on disk");
    // A new engine on a quiet bus: no event will tell it about team/q:v1.
    let b = Reg::start("b", dir.path(), &EventBus::default(), b_addr).await;
    let second = CancellationToken::new();
    // Its rule now only matches a tag that does not exist, so its reconcile
    // pass finds nothing: only the persisted task can copy team/q:v1.
    let mut quiet = rule("r", &[]);
    quiet.spec.tags.include = vec!["^never$".into()];
    let e2 = engine(
        state.clone(),
        vec![quiet],
        a.addr,
        b_addr,
        &EventBus::default(),
        second.clone(),
    );
    eventually("the persisted task to complete", 30, || async {
        digest_in(&b.host(), "team/q", "v1").await.as_deref() == Some(d.as_str())
    })
    .await;
    eventually("an empty queue", 10, || async {
        status(&e2, "r").pending == 0
    })
    .await;
    assert_eq!(std::fs::read_dir(state.join("queue")).unwrap().count(), 0);
    second.cancel();
    a.stop().await;
    b.stop().await;
}

fn store_in(dir: &std::path::Path) -> Store {
    Store::open(dir.join("store")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_api_lists_rules_and_unknown_rule_is_404() {
    use tower::ServiceExt;
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let shutdown = CancellationToken::new();
    let (a, b) = (
        ferry_test_support::free_addr(),
        ferry_test_support::free_addr(),
    );
    let engine = engine(
        dir.path().join("state"),
        vec![rule("r1", &[])],
        a,
        b,
        &bus,
        shutdown.clone(),
    );
    let app = ferry_replication::api::router(engine);
    let resp = app
        .clone()
        .oneshot(
            axum::http::Request::get("/replication")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let list: ferry_replication::api::StatusList = serde_json::from_slice(&body).unwrap();
    assert_eq!(list.region, "a");
    assert_eq!(list.rules[0].name, "r1");
    assert_eq!(
        (list.rules[0].source.as_str(), list.rules[0].target.as_str()),
        ("a", "b")
    );
    let resp = app
        .oneshot(
            axum::http::Request::get("/replication/nope")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
