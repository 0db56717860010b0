//! `mode: pull` rules between real registries: the engine of the *target*
//! region runs the rule, and, hearing no event from the source (each
//! registry here publishes on its own bus, as two processes would), learns
//! of images by polling the source's catalog and tags lists. Covers ferry's
//! registry as the source (including a restart of the pulling engine with
//! tasks queued, while the source is down: the persisted queue is resumed,
//! not rediscovered) and CNCF Distribution demanding basic auth as the
//! source.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use ferry_core::events::EventBus;
use ferry_core::replication_spec::{CredentialsRef, ReplicationEndpoint, ReplicationMode};
use ferry_image::build::{Entry, ImageBuilder, Layer};
use ferry_image::client::Credentials;
use ferry_image::testutil::Distribution;
use ferry_image::{ImageRef, PushOptions, RegistryClient, Store};
use ferry_replication::{Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

const USER: &str = "ferry";
const PASSWORD: &str = "replicate-me";
/// bcrypt of [`PASSWORD`]; a test fixture, not a secret.
const HTPASSWD: &str = "ferry:$2b$12$7jiTAYON7LqiYaIs50zJn.1tJSfACeATA.B9pWXHbhZBVTPFHorUu";

/// A pull rule from region `a` (or `source`) into region `b`, polling
/// every second.
fn pull_rule(source: Option<ReplicationEndpoint>) -> ferry_core::replication_spec::ReplicationRule {
    let mut r = rule("b-pulls", &["team/*"]);
    r.spec.mode = ReplicationMode::Pull;
    r.spec.reconcile_interval_seconds = Some(1);
    if let Some(s) = source {
        r.spec.source = s;
    }
    r
}

/// The engine of `region` over `state`, with fast retries.
fn engine_of(
    region: &str,
    state: &Path,
    rule: &ferry_core::replication_spec::ReplicationRule,
    registries: &BTreeMap<String, String>,
    shutdown: &CancellationToken,
) -> Engine {
    let mut cfg = EngineConfig::new(
        region,
        state.to_path_buf(),
        vec![rule.clone()],
        registries.clone(),
        EventBus::default(),
        shutdown.clone(),
    );
    cfg.max_backoff = Duration::from_millis(400);
    let mut metrics = prometheus_client::registry::Registry::default();
    Engine::start(cfg, &mut metrics).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_target_region_polls_the_source_and_resumes_its_queue_after_a_restart() {
    let dir = ferry_test_support::temp_dir();
    let (a_addr, b_addr) = (
        ferry_test_support::free_addr(),
        ferry_test_support::free_addr(),
    );
    let a = Reg::start("a", dir.path(), &EventBus::default(), a_addr).await;
    let store = Store::open(dir.path().join("store")).unwrap();
    let before = push_small(&store, &a.host(), "team/app", "v0", "before the rule").await;
    let registries = BTreeMap::from([
        ("a".to_string(), a_addr.to_string()),
        ("b".to_string(), b_addr.to_string()),
    ]);
    let rule = pull_rule(None);
    let shutdown = CancellationToken::new();
    // The source region does not run a pull rule; the target does.
    let at_source = engine_of(
        "a",
        &dir.path().join("a-state"),
        &rule,
        &registries,
        &shutdown,
    );
    assert!(at_source.status().is_empty(), "{:?}", at_source.status());
    let state = dir.path().join("b-state");
    let engine = engine_of("b", &state, &rule, &registries, &shutdown);

    // b's registry is down: the polls find v0..v2 and queue them, failing.
    for i in 1..3 {
        push_small(
            &store,
            &a.host(),
            "team/app",
            &format!("v{i}"),
            &format!("c{i}"),
        )
        .await;
    }
    eventually("three copies queued and failing", 20, || async {
        let s = status(&engine, "b-pulls");
        s.pending == 3 && s.failures > 0
    })
    .await;
    shutdown.cancel();
    a.stop().await;

    // Restarted with the source down as well: only the persisted queue can
    // hold the three tasks now.
    let b = Reg::start("b", dir.path(), &EventBus::default(), b_addr).await;
    let shutdown = CancellationToken::new();
    let engine = engine_of("b", &state, &rule, &registries, &shutdown);
    assert_eq!(status(&engine, "b-pulls").pending, 3);
    eventually(
        "the resumed tasks fail against the stopped source",
        20,
        || async {
            let s = status(&engine, "b-pulls");
            s.failures > 0
                && s.last_error
                    .unwrap_or_default()
                    .contains(&a_addr.to_string())
        },
    )
    .await;
    let a = Reg::start("a", dir.path(), &EventBus::default(), a_addr).await;
    for tag in ["v0", "v1", "v2"] {
        let want = digest_in(&a.host(), "team/app", tag).await;
        eventually(&format!("team/app:{tag} pulled into b"), 30, || async {
            digest_in(&b.host(), "team/app", tag).await == want
        })
        .await;
    }
    assert_eq!(digest_in(&b.host(), "team/app", "v0").await, Some(before));

    // A new image reaches b by the next poll (no event crosses).
    let later = push_small(&store, &a.host(), "team/app", "v3", "later").await;
    push_small(&store, &a.host(), "other/app", "v0", "not matched").await;
    eventually("team/app:v3 pulled into b", 20, || async {
        digest_in(&b.host(), "team/app", "v3").await == Some(later.clone())
    })
    .await;
    let s = status(&engine, "b-pulls");
    assert_eq!((s.pending, s.replicated), (0, 4), "{s:?}");
    assert_eq!(s.mode, ReplicationMode::Pull, "{s:?}");
    assert_eq!(digest_in(&b.host(), "other/app", "v0").await, None);
    assert!(s.last_reconcile.is_some(), "{s:?}");
    shutdown.cancel();
    a.stop().await;
    b.stop().await;
}

/// Builds a one-file image and pushes it to Distribution with the login.
async fn push_with_login(store: &Store, client: &RegistryClient, host: &str, tag: &str) -> String {
    let mut l = Layer::new();
    let data = format!("distribution {tag}").into_bytes();
    l.insert("/content", Entry::Data { data, mode: 0o644 })
        .unwrap();
    let name = format!("{host}/team/app:{tag}");
    ImageBuilder::new()
        .layer(l)
        .build(store, Some(&name))
        .unwrap();
    let opts = PushOptions::default();
    ferry_image::push(
        client,
        store,
        &name,
        &ImageRef::parse(&name).unwrap(),
        &opts,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_pulls_from_cncf_distribution_with_credentials() {
    if !Distribution::available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but CNCF Distribution is missing: run scripts/setup.sh --test-peers"
        );
        eprintln!("SKIPPED: CNCF Distribution is not installed (scripts/setup.sh --test-peers)");
        return;
    }
    let dir = ferry_test_support::temp_dir();
    let dist = Distribution::start_with_htpasswd(&dir.path().join("dist"), HTPASSWD);
    let login = Credentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let source = RegistryClient::new(&dist.host(), Some(login)).unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let v1 = push_with_login(&store, &source, &dist.host(), "v1").await;
    let b = Reg::start(
        "b",
        dir.path(),
        &EventBus::default(),
        ferry_test_support::free_addr(),
    )
    .await;
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let rule = pull_rule(Some(ReplicationEndpoint {
        region: None,
        url: Some(format!("http://{}", dist.host())),
        credentials: Some(CredentialsRef {
            username: USER.into(),
            password_env: None,
            password_file: Some(password_file),
        }),
    }));
    let registries = BTreeMap::from([("b".to_string(), b.host())]);
    let shutdown = CancellationToken::new();
    let engine = engine_of(
        "b",
        &dir.path().join("state"),
        &rule,
        &registries,
        &shutdown,
    );
    let v2 = push_with_login(&store, &source, &dist.host(), "v2").await;
    for (tag, digest) in [("v1", v1), ("v2", v2)] {
        eventually(
            &format!("team/app:{tag} pulled from Distribution"),
            30,
            || async { digest_in(&b.host(), "team/app", tag).await.as_ref() == Some(&digest) },
        )
        .await;
    }
    let s = status(&engine, "b-pulls");
    assert_eq!(s.pending, 0, "{s:?}");
    shutdown.cancel();
    b.stop().await;
}
