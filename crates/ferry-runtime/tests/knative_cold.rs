//! Cold starts of Knative revisions, measured: after a scale from zero
//! through the real gateway, `ferry_runtime_cold_start_seconds` holds each
//! phase (schedule, image, rootfs, process, readiness) and the total, the
//! phases add up to it, and the Revision keeps the last one in
//! `status.lastColdStart`; a revision with `initial-scale: "0"` is
//! pre-warmed (its image pulled and unpacked before any request), so its
//! first cold start pays neither for the image nor for unpacking it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::serving::{Stack, ksvc, stack};
use common::wait;
use ferry_gateway::GatewayConfig;
use ferry_runtime::cold_start::PHASES;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

/// `ferry_runtime_cold_start_seconds` as the region's /metrics shows it:
/// (count, sum) per phase.
fn histogram(s: &Stack) -> BTreeMap<String, (u64, f64)> {
    let mut reg = prometheus_client::registry::Registry::with_prefix("ferry");
    s.env.rt.register_metrics(&mut reg);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    let mut out: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ferry_runtime_cold_start_seconds_") else {
            continue;
        };
        let (what, rest) = rest.split_once("{phase=\"").unwrap_or(("", ""));
        let Some((phase, value)) = rest.split_once("\"} ") else {
            continue;
        };
        let e = out.entry(phase.to_string()).or_default();
        match what {
            "count" => e.0 = value.trim().parse().unwrap(),
            "sum" => e.1 = value.trim().parse().unwrap(),
            _ => {}
        }
    }
    out
}

/// The revision's `status.lastColdStart` once it is newer than `before`.
async fn last_cold_start(s: &Stack, rev: &str, before: Option<&Value>) -> Value {
    wait("lastColdStart", Duration::from_secs(30), || {
        let r = s.env.rt.get(Kind::Revision, "default", rev).ok()?;
        let c = r.pointer("/status/lastColdStart")?.clone();
        (Some(&c) != before).then_some(c)
    })
    .await
}

async fn at_zero(s: &Stack, rev: &str) {
    wait("no pod", Duration::from_secs(60), || {
        (s.all_pods(rev) == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_is_measured_by_phase_and_kept_on_the_revision() {
    let s = stack(GatewayConfig::default()).await;
    let window = "autoscaling.knative.dev/window: 6s";
    common::apply(&s.env.rt, &ksvc("cold", "v1", window, ""));
    s.ready("cold").await;
    assert!(
        histogram(&s).is_empty(),
        "a revision's first pods are no cold start"
    );
    at_zero(&s, "cold-00001").await;
    let c = reqwest::Client::new();
    let (code, _, body, took) = s.get(&c, "cold.default.example.com").await;
    assert_eq!((code, body.as_str()), (200, "v1\n"));
    let last = last_cold_start(&s, "cold-00001", None).await;
    let h = histogram(&s);
    for phase in PHASES.iter().chain(&["total"]) {
        assert_eq!(h.get(*phase).map(|x| x.0), Some(1), "{phase}: {h:?}");
    }
    let phases: f64 = PHASES.iter().map(|p| h[*p].1).sum();
    let total = h["total"].1;
    assert!((phases - total).abs() < 1e-6, "{phases} vs {total}");
    assert!(
        total > 0.0 && total <= took.as_secs_f64(),
        "{total} vs {took:?}"
    );
    // The process starts and the server binds: both take time.
    assert!(h["process"].1 > 0.0 && h["readiness"].1 > 0.0, "{h:?}");
    assert!(
        (last["totalSeconds"].as_f64().unwrap() - total).abs() < 1e-5,
        "{last} vs {h:?}"
    );
    for p in PHASES {
        assert!(last["phaseSeconds"][p].is_f64(), "{last}");
    }
    let events = s.env.rt.events(Some("default"), None);
    let ev = events
        .iter()
        .find(|e| e.reason == "ColdStart")
        .unwrap_or_else(|| panic!("no ColdStart event: {events:?}"));
    assert!(ev.message.contains("readiness"), "{}", ev.message);
    s.shutdown().await;
}

/// Unpacked layer chains in the runtime's rootfs cache.
fn unpacked(s: &Stack) -> usize {
    let dir = s.env.dir.path().join("runtime/images/rootfs");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_starting_at_zero_is_prewarmed_before_its_first_request() {
    let s = stack(GatewayConfig::default()).await;
    assert_eq!(unpacked(&s), 0);
    let a = "autoscaling.knative.dev/initial-scale: '0', autoscaling.knative.dev/window: 6s";
    common::apply(&s.env.rt, &ksvc("warm", "v2", a, ""));
    // Ready without a pod once its image is pulled and unpacked.
    s.ready("warm").await;
    assert_eq!(s.all_pods("warm-00001"), 0, "initial-scale 0 starts no pod");
    assert_eq!(unpacked(&s), 1, "the image is unpacked before any request");
    let events = s.env.rt.events(Some("default"), None);
    assert!(events.iter().any(|e| e.reason == "Prewarmed"), "{events:?}");
    let c = reqwest::Client::new();
    let (code, _, body, _) = s.get(&c, "warm.default.example.com").await;
    assert_eq!((code, body.as_str()), (200, "v2\n"));
    let cold = last_cold_start(&s, "warm-00001", None).await;
    let secs = |p: &str| cold["phaseSeconds"][p].as_f64().unwrap();
    // The image was found in the store and its layers in the cache: the
    // image phase is a lookup, and rootfs only an overlay mount.
    assert!(secs("image") < 0.02, "{cold}");
    assert!(secs("rootfs") < 0.05, "{cold}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prewarm_a_revision_at_zero_pulls_on_its_first_request() {
    let s = stack(GatewayConfig::default()).await;
    let a = "autoscaling.knative.dev/initial-scale: '0', ferry.dev/prewarm: 'false'";
    common::apply(&s.env.rt, &ksvc("lazy", "v2", a, ""));
    s.ready("lazy").await;
    assert_eq!(
        unpacked(&s),
        0,
        "nothing pulled or unpacked before a request"
    );
    let c = reqwest::Client::new();
    let (code, _, body, _) = s.get(&c, "lazy.default.example.com").await;
    assert_eq!((code, body.as_str()), (200, "v2\n"));
    let cold = last_cold_start(&s, "lazy-00001", None).await;
    assert_eq!(unpacked(&s), 1);
    eprintln!("cold start without prewarm: {cold}");
    s.shutdown().await;
}
