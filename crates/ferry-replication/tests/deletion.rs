//! Replicated deletions (`spec.deletes`) between real registries: a tag
//! removed in the source loses its tag in the target (the manifest stays),
//! a manifest deleted by digest is deleted there, a tag the target holds of
//! its own survives a reconcile pass (deletions follow events), a rule without the flag
//! never deletes (neither by event nor by reconcile, nor a deletion task
//! persisted before the flag was turned off), a deletion queued while the
//! target was down is carried out by the next engine, and a CNCF
//! Distribution target loses the tag too.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ferry_core::events::EventBus;
use ferry_core::replication_spec::{ReplicationEndpoint, ReplicationRule};
use ferry_image::testutil::Distribution;
use ferry_image::{RegistryClient, Store};
use ferry_replication::{Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

/// An engine for region `a` over regions `regs` (name → address).
fn engine_over(
    state: std::path::PathBuf,
    rules: Vec<ReplicationRule>,
    regs: &[(&str, String)],
    events: &EventBus,
    shutdown: CancellationToken,
) -> Engine {
    let registries: BTreeMap<String, String> = regs
        .iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect();
    let mut cfg = EngineConfig::new("a", state, rules, registries, events.clone(), shutdown);
    cfg.max_backoff = Duration::from_millis(400);
    cfg.reconcile_interval = Some(Duration::from_secs(3600));
    let mut metrics = prometheus_client::registry::Registry::default();
    Engine::start(cfg, &mut metrics).unwrap()
}

fn to(name: &str, target: &str, deletes: bool) -> ReplicationRule {
    let mut r = rule(name, &["team/*"]);
    r.spec.target.region = Some(target.into());
    r.spec.deletes = deletes;
    r
}

async fn has_digest(host: &str, repo: &str, digest: &str) -> bool {
    digest_in(host, repo, digest).await.is_some()
}

async fn delete_in(host: &str, repo: &str, reference: &str) {
    let client = RegistryClient::new(host, None).unwrap();
    assert!(client.delete_manifest(repo, reference).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_removal_and_manifest_deletion_follow_only_with_the_flag() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b = Reg::start("b", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let c = Reg::start("c", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let shutdown = CancellationToken::new();
    let regs = [("a", a.host()), ("b", b.host()), ("c", c.host())];
    let rules = vec![to("mirror", "b", true), to("keep", "c", false)];
    let engine = engine_over(
        dir.path().join("state"),
        rules,
        &regs,
        &bus,
        shutdown.clone(),
    );
    let store = Store::open(dir.path().join("store")).unwrap();
    let v1 = push_small(&store, &a.host(), "team/app", "v1", "one").await;
    let v2 = push_small(&store, &a.host(), "team/app", "v2", "two").await;
    for host in [b.host(), c.host()] {
        for (tag, d) in [("v1", &v1), ("v2", &v2)] {
            eventually(&format!("{tag} in {host}"), 30, || async {
                digest_in(&host, "team/app", tag).await.as_deref() == Some(d.as_str())
            })
            .await;
        }
    }

    delete_in(&a.host(), "team/app", "v1").await;
    delete_in(&a.host(), "team/app", &v2).await;
    eventually("v1's tag gone from b", 30, || async {
        digest_in(&b.host(), "team/app", "v1").await.is_none()
    })
    .await;
    eventually("v2's manifest gone from b", 30, || async {
        !has_digest(&b.host(), "team/app", &v2).await
    })
    .await;
    assert!(
        has_digest(&b.host(), "team/app", &v1).await,
        "removing a tag keeps its manifest, as in the source"
    );
    assert_eq!(digest_in(&b.host(), "team/app", "v2").await, None);
    eventually("both deletions counted", 10, || async {
        status(&engine, "mirror").deleted == 2 && status(&engine, "mirror").pending == 0
    })
    .await;

    // A tag pushed to the target directly, which the source never had,
    // survives the deleting rule's reconcile: deletions follow events only.
    let own = push_small(&store, &b.host(), "team/app", "local", "b's own").await;
    // Without the flag: nothing deleted, by the events nor by a reconcile.
    let (before, mirror_before) = (
        status(&engine, "keep").last_reconcile,
        status(&engine, "mirror").last_reconcile,
    );
    engine.reconcile_now();
    eventually("a reconcile pass", 30, || async {
        status(&engine, "keep").last_reconcile != before
            && status(&engine, "mirror").last_reconcile != mirror_before
    })
    .await;
    eventually("mirror's queue drained", 10, || async {
        status(&engine, "mirror").pending == 0
    })
    .await;
    assert_eq!(
        digest_in(&b.host(), "team/app", "local").await.as_deref(),
        Some(own.as_str()),
        "the target's own tag was deleted by a reconcile pass"
    );
    eventually("keep's queue drained", 10, || async {
        status(&engine, "keep").pending == 0
    })
    .await;
    assert_eq!(
        digest_in(&c.host(), "team/app", "v1").await.as_deref(),
        Some(v1.as_str())
    );
    assert_eq!(
        digest_in(&c.host(), "team/app", "v2").await.as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(status(&engine, "keep").deleted, 0);
    shutdown.cancel();
    for r in [a, b, c] {
        r.stop().await;
    }
}

/// Pushes `team/app:v1` to a, replicates it to b, stops b, deletes the tag
/// in a and waits until the deletion task is persisted and failing; then
/// stops the engine. Returns (a, b's address, v1's digest).
async fn deletion_queued_while_b_is_down(
    dir: &std::path::Path,
    bus: &EventBus,
) -> (Reg, std::net::SocketAddr, String) {
    let a = Reg::start("a", dir, bus, ferry_test_support::free_addr()).await;
    let b = Reg::start("b", dir, bus, ferry_test_support::free_addr()).await;
    let b_addr = b.addr;
    let first = CancellationToken::new();
    let mut r = rule("r", &["team/*"]);
    r.spec.deletes = true;
    let e1 = engine(
        dir.join("state"),
        vec![r],
        a.addr,
        b.addr,
        bus,
        first.clone(),
    );
    let store = Store::open(dir.join("store")).unwrap();
    let v1 = push_small(&store, &a.host(), "team/app", "v1", "one").await;
    eventually("v1 in b", 30, || async {
        digest_in(&b.host(), "team/app", "v1").await.as_deref() == Some(v1.as_str())
    })
    .await;
    b.stop().await;
    delete_in(&a.host(), "team/app", "v1").await;
    eventually("the deletion failing against the stopped b", 20, || async {
        let s = status(&e1, "r");
        s.pending == 1 && s.failures > 0
    })
    .await;
    first.cancel();
    (a, b_addr, v1)
}

/// The next engine's rule matches no tag, so its reconcile pass finds
/// nothing: only the persisted task can act.
fn quiet(deletes: bool) -> ReplicationRule {
    let mut r = rule("r", &["team/*"]);
    r.spec.tags.include = vec!["^never$".into()];
    r.spec.deletes = deletes;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletion_queued_while_the_target_was_down_survives_a_restart() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let (a, b_addr, _) = deletion_queued_while_b_is_down(dir.path(), &bus).await;
    let b = Reg::start("b", dir.path(), &EventBus::default(), b_addr).await;
    let second = CancellationToken::new();
    let quiet_bus = EventBus::default();
    let state = dir.path().join("state");
    let e2 = engine(
        state,
        vec![quiet(true)],
        a.addr,
        b_addr,
        &quiet_bus,
        second.clone(),
    );
    eventually("the persisted deletion to remove v1 from b", 30, || async {
        digest_in(&b.host(), "team/app", "v1").await.is_none()
    })
    .await;
    eventually("an empty queue", 10, || async {
        status(&e2, "r").pending == 0
    })
    .await;
    assert_eq!(status(&e2, "r").deleted, 1);
    second.cancel();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn persisted_deletion_is_dropped_once_the_rule_no_longer_deletes() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let (a, b_addr, v1) = deletion_queued_while_b_is_down(dir.path(), &bus).await;
    let b = Reg::start("b", dir.path(), &EventBus::default(), b_addr).await;
    let second = CancellationToken::new();
    let quiet_bus = EventBus::default();
    let state = dir.path().join("state");
    let e2 = engine(
        state,
        vec![quiet(false)],
        a.addr,
        b_addr,
        &quiet_bus,
        second.clone(),
    );
    eventually("the task dropped", 10, || async {
        status(&e2, "r").pending == 0
    })
    .await;
    assert_eq!(
        digest_in(&b.host(), "team/app", "v1").await.as_deref(),
        Some(v1.as_str()),
        "deleted in b although the rule no longer replicates deletions"
    );
    assert_eq!(status(&e2, "r").deleted, 0);
    second.cancel();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_tag_is_removed_from_cncf_distribution() {
    if !Distribution::available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CNCF Distribution is missing: run scripts/setup.sh --test-peers"
        );
        eprintln!("SKIPPED: CNCF Distribution is not installed (scripts/setup.sh --test-peers)");
        return;
    }
    let dir = ferry_test_support::temp_dir();
    let dist = Distribution::start(&dir.path().join("dist"));
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let mut r = rule("a-to-distribution", &["team/*"]);
    r.spec.deletes = true;
    r.spec.target = ReplicationEndpoint {
        url: Some(format!("http://{}", dist.host())),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let regs = [("a", a.host())];
    let engine = engine_over(
        dir.path().join("state"),
        vec![r],
        &regs,
        &bus,
        shutdown.clone(),
    );
    let store = Store::open(dir.path().join("store")).unwrap();
    let v1 = push_small(&store, &a.host(), "team/app", "v1", "one").await;
    let v2 = push_small(&store, &a.host(), "team/app", "v2", "two").await;
    for (tag, d) in [("v1", &v1), ("v2", &v2)] {
        eventually(&format!("{tag} in Distribution"), 30, || async {
            digest_in(&dist.host(), "team/app", tag).await.as_deref() == Some(d.as_str())
        })
        .await;
    }
    delete_in(&a.host(), "team/app", "v1").await;
    eventually("v1 gone from Distribution", 30, || async {
        digest_in(&dist.host(), "team/app", "v1").await.is_none()
    })
    .await;
    assert_eq!(
        digest_in(&dist.host(), "team/app", "v2").await.as_deref(),
        Some(v2.as_str()),
        "the other tag stays"
    );
    assert_eq!(status(&engine, "a-to-distribution").deleted, 1);
    shutdown.cancel();
    a.stop().await;
}
