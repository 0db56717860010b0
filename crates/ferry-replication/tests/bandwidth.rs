//! A rule's bandwidth cap (`spec.bandwidth`) and its in-flight figures:
//! a 4 MiB image copied under a 1 MiB/s cap takes about bytes ÷ cap
//! (checked as a ratio with generous bounds, not as an absolute time),
//! while the same copy without a cap takes a fraction of it; during the
//! capped copy the status and the Prometheus metrics show bytes in flight
//! and a pending task, and afterwards the last-success timestamp.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use ferry_core::events::EventBus;
use ferry_image::build::{Entry, ImageBuilder, Layer};
use ferry_image::{ImageRef, PushOptions, RegistryClient, Store};
use ferry_replication::{Engine, EngineConfig};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

const MIB: usize = 1 << 20;

/// Pushes `host/repo:tag` with two layers of incompressible bytes (3 MiB
/// and 1 MiB) seeded by `seed`; returns the manifest digest.
async fn push_sized(store: &Store, host: &str, repo: &str, tag: &str, seed: u64) -> String {
    let mut builder = ImageBuilder::new();
    for (i, size) in [3 * MIB, MIB].into_iter().enumerate() {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 | (i as u64) << 40;
        let data: Vec<u8> = (0..size / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        let mut l = Layer::new();
        l.insert("/noise", Entry::Data { data, mode: 0o644 })
            .unwrap();
        builder = builder.layer(l);
    }
    let name = format!("{host}/{repo}:{tag}");
    builder.build(store, Some(&name)).unwrap();
    let client = RegistryClient::new(host, None).unwrap();
    let opts = PushOptions::default();
    ferry_image::push(
        &client,
        store,
        &name,
        &ImageRef::parse(&name).unwrap(),
        &opts,
    )
    .await
    .unwrap()
}

fn metric(text: &str, name: &str, rule: &str) -> Option<f64> {
    let prefix = format!("{name}{{rule=\"{rule}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capped_copy_takes_bytes_over_cap_and_shows_bytes_in_flight() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b = Reg::start("b", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let c = Reg::start("c", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let mut capped = rule("capped", &["team/*"]);
    capped.spec.bandwidth = Some("1Mi".into());
    let mut free = rule("free", &["team/*"]);
    free.spec.target.region = Some("c".into());
    let registries = BTreeMap::from([
        ("a".to_string(), a.host()),
        ("b".to_string(), b.host()),
        ("c".to_string(), c.host()),
    ]);
    let shutdown = CancellationToken::new();
    let state = dir.path().join("state");
    let mut cfg = EngineConfig::new(
        "a",
        state,
        vec![capped, free],
        registries,
        bus.clone(),
        shutdown.clone(),
    );
    cfg.reconcile_interval = Some(Duration::from_secs(3600));
    let mut metrics = Registry::default();
    let engine = Engine::start(cfg, &mut metrics).unwrap();
    let encode = |m: &Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, m).unwrap();
        text
    };

    let store = Store::open(dir.path().join("store")).unwrap();
    let digest = push_sized(&store, &a.host(), "team/big", "v1", 7).await;
    let pushed = Instant::now();
    eventually("the uncapped copy", 30, || async {
        digest_in(&c.host(), "team/big", "v1").await.as_deref() == Some(digest.as_str())
    })
    .await;
    let uncapped = pushed.elapsed().as_secs_f64();

    // Mid-copy: bytes in flight in the status and in the metrics.
    eventually("bytes in flight while capped", 10, || async {
        let s = status(&engine, "capped");
        s.bytes_in_flight > 0 && s.pending == 1
    })
    .await;
    let text = encode(&metrics);
    let in_flight = metric(&text, "replication_bytes_in_flight", "capped").unwrap_or(0.0);
    assert!(
        in_flight > 0.0,
        "no bytes in flight in the metrics:\n{text}"
    );
    assert_eq!(
        metric(&text, "replication_queue_depth", "capped"),
        Some(1.0),
        "{text}"
    );

    eventually("the capped copy", 30, || async {
        digest_in(&b.host(), "team/big", "v1").await.as_deref() == Some(digest.as_str())
    })
    .await;
    let capped_secs = pushed.elapsed().as_secs_f64();
    let bytes = status(&engine, "capped").bytes;
    assert!(bytes >= 4 * MIB as u64, "sent {bytes} bytes");
    let floor = bytes as f64 / MIB as f64;
    let ratio = capped_secs / floor;
    eprintln!(
        "capped: {capped_secs:.2}s for {bytes} bytes at 1 MiB/s (ratio {ratio:.2}); uncapped {uncapped:.2}s"
    );
    assert!(
        (0.7..=1.6).contains(&ratio),
        "capped copy took {ratio:.2}× bytes ÷ cap"
    );
    assert!(
        uncapped < capped_secs / 3.0,
        "the cap slowed the other rule: {uncapped:.2}s"
    );

    eventually("nothing in flight", 10, || async {
        status(&engine, "capped").bytes_in_flight == 0
    })
    .await;
    status(&engine, "capped");
    let text = encode(&metrics);
    assert_eq!(
        metric(&text, "replication_bytes_in_flight", "capped"),
        Some(0.0),
        "{text}"
    );
    let last = metric(
        &text,
        "replication_last_success_timestamp_seconds",
        "capped",
    );
    assert!(last.is_some_and(|t| t > 1.7e9), "{text}");
    shutdown.cancel();
    for r in [a, b, c] {
        r.stop().await;
    }
}
