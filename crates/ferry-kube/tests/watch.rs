//! Drift from watches on a real API server: a change made with kubectl to
//! an object ferry applied arrives on the target's channel within 2 s, and
//! again after the API server was restarted (the watch resumes); when its
//! key arrives, `list` (served from the watch's store) already shows it.

mod common;

use std::time::{Duration, Instant};

use common::{config_map, ctx, kubectl_ok, target};
use ferry_delivery::object::{LABEL_APP, ObjKey};
use ferry_kube::KubeTarget;
use ferry_test_support::kube::KubeCluster;
use tokio::sync::broadcast::Receiver;

/// Patches `cfg` with kubectl (what `kubectl edit` sends) and returns how
/// long its key took to arrive, `None` if not within `within`.
async fn edit_and_time(
    cluster: &KubeCluster,
    t: &KubeTarget,
    rx: &mut Receiver<ObjKey>,
    n: u32,
    within: Duration,
) -> Option<Duration> {
    while rx.try_recv().is_ok() {}
    let patch = format!("{{\"data\":{{\"edited\":\"{n}\"}}}}");
    let started = Instant::now();
    kubectl_ok(
        cluster,
        &[
            "patch",
            "cm",
            "cfg",
            "-n",
            "apps",
            "--type=merge",
            "-p",
            &patch,
        ],
    );
    let deadline = started + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, rx.recv()).await {
            // The read the key wakes must already see the edit (a key of
            // an earlier edit arriving late is not this one).
            Ok(Ok(k)) if k.name == "cfg" => {
                let took = started.elapsed();
                let live = t.list_labelled(LABEL_APP, "web").await.expect("list");
                let cfg = live.iter().find(|o| o.name == "cfg").expect("cfg listed");
                let edited = cfg.value.pointer("/data/edited").and_then(|v| v.as_str());
                if edited == Some(n.to_string().as_str()) {
                    return Some(took);
                }
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_edits_arrive_within_two_seconds_also_after_an_apiserver_restart() {
    let mut cluster = common::start_api().await;
    let t = target(&cluster).await;
    let c = ctx("web", "apps");
    let mut rx = t.changes();
    t.apply_batch(&c, vec![config_map(&c, "cfg", "1")], false)
        .await
        .expect("apply");
    // The watch starts with the apply; wait until it reports edits at all.
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while edit_and_time(&cluster, &t, &mut rx, n, Duration::from_secs(2))
        .await
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the ConfigMap watch never reported an edit"
        );
        n += 1;
    }
    for _ in 0..3 {
        n += 1;
        let took = edit_and_time(&cluster, &t, &mut rx, n, Duration::from_secs(2)).await;
        let took = took.expect("a kubectl edit did not arrive within 2 s");
        eprintln!("edit arrived in {took:?}");
    }

    cluster.restart_apiserver();
    // The watch reconnects (its retry pause is at most 2 s) and resumes
    // from its last resourceVersion.
    let started = Instant::now();
    let mut arrived = None;
    while started.elapsed() < Duration::from_secs(20) {
        n += 1;
        if let Some(took) = edit_and_time(&cluster, &t, &mut rx, n, Duration::from_secs(2)).await {
            arrived = Some(took);
            break;
        }
    }
    let took = arrived.expect("no edit arrived within 20 s of the API server's restart");
    eprintln!(
        "after restart: watching again {:?} after ready, last edit in {took:?}",
        started.elapsed()
    );
    n += 1;
    let took = edit_and_time(&cluster, &t, &mut rx, n, Duration::from_secs(2)).await;
    assert!(
        took.is_some(),
        "after the restart an edit took more than 2 s"
    );
}
