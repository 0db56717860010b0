//! Knative Serving's `Service` on the runtime, routed by the real gateway
//! over 127.0.0.1 to real pods (busybox httpd through runc): scale to zero
//! after the window and back through the activator (a burst of 50 at zero
//! all answered), a 90/10 split by traffic percent, a tag host, min-scale,
//! and the activator's bounded queue answering 503 with Retry-After.

mod common;

use std::time::{Duration, Instant};

use common::serving::{ksvc, stack};
use common::{dump, wait};
use ferry_gateway::GatewayConfig;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_scales_to_zero_after_its_window_and_a_burst_at_zero_is_all_answered() {
    let s = stack(GatewayConfig::default()).await;
    let window = "autoscaling.knative.dev/window: 6s";
    common::apply(&s.env.rt, &ksvc("hello", "v1", window, ""));
    s.ready("hello").await;
    let status = s.ksvc("hello")["status"].clone();
    assert_eq!(status["url"], "http://hello.default.example.com");
    assert_eq!(status["latestReadyRevisionName"], "hello-00001");
    assert!(
        s.env
            .rt
            .get(Kind::Deployment, "default", "hello-00001-deployment")
            .is_ok()
    );
    let c = reqwest::Client::new();
    let (code, _, body, _) = s.get(&c, "hello.default.example.com").await;
    assert_eq!((code, body.as_str()), (200, "v1\n"));
    let last = Instant::now();
    // No request for a window: no pod.
    wait("scale to zero", Duration::from_secs(40), || {
        (s.pods("hello-00001") == 0).then_some(())
    })
    .await;
    let idle = last.elapsed();
    assert!(
        idle >= Duration::from_secs(6),
        "scaled to zero {idle:?} after the last request, before the window"
    );
    wait("Active=False NoTraffic", Duration::from_secs(10), || {
        let rev = s
            .env
            .rt
            .get(Kind::Revision, "default", "hello-00001")
            .ok()?;
        (rev.pointer("/status/conditions/1/reason")? == "NoTraffic").then_some(())
    })
    .await;
    // Gone, not only terminating: the next request finds no pod at all.
    wait("no pod", Duration::from_secs(30), || {
        (s.all_pods("hello-00001") == 0).then_some(())
    })
    .await;
    // 50 at once while at zero: every one held, then answered.
    let burst = (0..50).map(|_| {
        let (c, s) = (c.clone(), &s);
        async move { s.get(&c, "hello.default.example.com").await }
    });
    let answers = futures_util::future::join_all(burst).await;
    let ok = answers
        .iter()
        .filter(|a| a.0 == 200 && a.2 == "v1\n")
        .count();
    if ok != 50 {
        dump(&s.env.rt);
    }
    assert_eq!(
        ok,
        50,
        "answers: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let mut times: Vec<Duration> = answers.iter().map(|a| a.3).collect();
    times.sort();
    eprintln!(
        "burst of 50 from zero: first {:?}, median {:?}, last {:?}",
        times[0], times[25], times[49]
    );
    assert!(s.gw.activator().cold_start.get_count_for_test() >= 1);
    s.shutdown().await;
}

trait HistogramCount {
    fn get_count_for_test(&self) -> u64;
}

impl HistogramCount for prometheus_client::metrics::histogram::Histogram {
    fn get_count_for_test(&self) -> u64 {
        let mut out = String::new();
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register("cold", "", self.clone());
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("cold_count "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_splits_90_10_by_percent_and_a_tag_has_its_own_host() {
    let s = stack(GatewayConfig::default()).await;
    common::apply(&s.env.rt, &ksvc("split", "v1", "", ""));
    s.ready("split").await;
    let traffic = "  traffic:\n  - {revisionName: split-00001, percent: 90}\n  - {latestRevision: true, percent: 10, tag: canary}\n";
    common::apply(&s.env.rt, &ksvc("split", "v2", "", traffic));
    wait("split-00002 ready", Duration::from_secs(60), || {
        let st = s.ksvc("split")["status"].clone();
        (st["latestReadyRevisionName"] == "split-00002" && st["conditions"][1]["status"] == "True")
            .then_some(())
    })
    .await;
    let st = s.ksvc("split")["status"].clone();
    assert_eq!(st["traffic"][0]["revisionName"], "split-00001");
    assert_eq!(
        st["traffic"][1]["url"],
        "http://canary-split.default.example.com"
    );
    let c = reqwest::Client::new();
    let mut v2 = 0;
    for _ in 0..300 {
        let (code, _, body, _) = s.get(&c, "split.default.example.com").await;
        assert_eq!(code, 200);
        v2 += usize::from(body == "v2\n");
    }
    // 10 % of 300 is 30 (σ ≈ 5.2).
    assert!(
        (12..=50).contains(&v2),
        "{v2} of 300 went to the 10 % revision"
    );
    for _ in 0..20 {
        let (code, _, body, _) = s.get(&c, "canary-split.default.example.com").await;
        assert_eq!((code, body.as_str()), (200, "v2\n"));
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_scale_keeps_pods_past_the_window() {
    let s = stack(GatewayConfig::default()).await;
    let a = "autoscaling.knative.dev/window: 6s, autoscaling.knative.dev/min-scale: '2'";
    common::apply(&s.env.rt, &ksvc("floor", "v1", a, ""));
    s.ready("floor").await;
    wait("two pods", Duration::from_secs(60), || {
        (s.pods("floor-00001") == 2).then_some(())
    })
    .await;
    // A whole window and more without a request: still min-scale pods.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(s.pods("floor-00001"), 2);
    let rev = s
        .env
        .rt
        .get(Kind::Revision, "default", "floor-00001")
        .unwrap();
    assert_eq!(
        rev.pointer("/status/desiredReplicas")
            .and_then(Value::as_u64),
        Some(2)
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activator_answers_503_with_retry_after_beyond_its_queue_and_timeout() {
    let config = GatewayConfig {
        activator_queue: 3,
        activator_timeout: Duration::from_secs(2),
        ..GatewayConfig::default()
    };
    let s = stack(config).await;
    // An image that does not exist: its pod never becomes ready.
    let text = ksvc("never", "v1", "", "").replace("web:v1", "missing:1");
    common::apply(&s.env.rt, &text);
    wait("route", Duration::from_secs(30), || {
        s.gw.table()
            .north
            .iter()
            .any(|v| v.host.to_string() == "never.default.example.com")
            .then_some(())
    })
    .await;
    let c = reqwest::Client::new();
    let all = (0..10).map(|_| {
        let (c, s) = (c.clone(), &s);
        async move { s.get(&c, "never.default.example.com").await }
    });
    let answers = futures_util::future::join_all(all).await;
    for a in &answers {
        assert_eq!((a.0, a.1.as_deref()), (503, Some("1")), "{a:?}");
    }
    let quick = answers
        .iter()
        .filter(|a| a.3 < Duration::from_secs(1))
        .count();
    let held = answers
        .iter()
        .filter(|a| a.3 >= Duration::from_secs(2))
        .count();
    assert_eq!(
        (quick, held),
        (7, 3),
        "7 beyond the queue at once, 3 held until the timeout"
    );
    s.shutdown().await;
}

/// Cold start from zero to first byte, a few samples (run explicitly:
/// `cargo test -p ferry-runtime --test knative -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints cold-start samples"]
async fn cold_start_samples() {
    let s = stack(GatewayConfig::default()).await;
    common::apply(
        &s.env.rt,
        &ksvc("cold", "v1", "autoscaling.knative.dev/window: 6s", ""),
    );
    s.ready("cold").await;
    let c = reqwest::Client::new();
    let mut samples = Vec::new();
    for _ in 0..8 {
        wait("zero", Duration::from_secs(60), || {
            (s.all_pods("cold-00001") == 0).then_some(())
        })
        .await;
        let (code, _, _, took) = s.get(&c, "cold.default.example.com").await;
        assert_eq!(code, 200);
        samples.push(took);
    }
    samples.sort();
    eprintln!("cold starts (zero to response head): {samples:?}");
    s.shutdown().await;
}
