//! Periodic GC inside the server (`spec.registry.gc`): with no manual call,
//! an orphan blob older than the grace period disappears, a fresh orphan and
//! everything a tag reaches stay, and the run shows in the `gc_*` metrics.

mod common;

use std::num::NonZeroU64;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use ferry_core::registry_spec::{RegistryGc, RegistrySpec};

/// Backdates the blob `digest` by two hours, past any grace period here.
fn age(dir: &std::path::Path, digest: &str) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = dir.join(format!("registry/store/blobs/sha256/{}/{hex}", &hex[..2]));
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
}

async fn status(url: &str) -> u16 {
    client().get(url).send().await.unwrap().status().as_u16()
}

fn metrics_text(reg: &TestRegistry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg.metrics.lock().unwrap()).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn periodic_gc_removes_old_orphans_without_a_manual_call() {
    let reg = start_with(RegistrySpec {
        gc: Some(RegistryGc {
            interval_seconds: NonZeroU64::new(1).unwrap(),
            grace_period_seconds: Some(60),
            delete_untagged: false,
        }),
        ..RegistrySpec::default()
    })
    .await;
    let (manifest, bytes) = push_image(&reg.url, "gc/app", "v1", 7).await;
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let layer = parsed["layers"][0]["digest"].as_str().unwrap().to_string();
    let orphan = push_blob(&reg.url, "gc/app", b"nothing references this").await;
    // Old enough to go: the orphan, and (kept anyway, a tag reaches them)
    // the image's manifest and layer.
    for d in [&orphan, &manifest, &layer] {
        age(reg.dir.path(), d);
    }
    let fresh = push_blob(&reg.url, "gc/app", b"pushed a moment ago").await;
    let blob = |d: &str| format!("{}/v2/gc/app/blobs/{d}", reg.url);

    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&blob(&orphan)).await != 404 {
        assert!(
            Instant::now() < deadline,
            "the periodic gc did not remove the old orphan within 20 s:\n{}",
            metrics_text(&reg)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(status(&blob(&fresh)).await, 200, "within the grace period");
    assert_eq!(status(&blob(&layer)).await, 200, "reached from a tag");
    let m = format!("{}/v2/gc/app/manifests/v1", reg.url);
    assert_eq!(status(&m).await, 200);
    let text = metrics_text(&reg);
    assert!(
        text.contains("ferry_registry_gc_runs_total{result=\"ok\"}"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ferry_registry_gc_last_run_timestamp_seconds ")),
        "{text}"
    );
}
