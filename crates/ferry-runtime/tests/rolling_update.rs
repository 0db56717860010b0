//! Rolling update v1 → v2 of a 3-replica Deployment under continuous
//! requests through its Service (NodePort on the host): no request fails,
//! and at the end only v2 pods remain. Then `rollout undo` brings v1 back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

fn with_node_port(yaml: &str, port: u16) -> String {
    yaml.replace(
        "spec:\n  selector: {app: roll}",
        "spec:\n  type: NodePort\n  selector: {app: roll}",
    )
    .replace(
        "ports: [{port: 80, targetPort: http}]",
        &format!("ports: [{{port: 80, targetPort: http, nodePort: {port}}}]"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_under_load_has_zero_failures_and_removes_v1() {
    let env = env().await;
    let port = ferry_test_support::free_port();
    apply(&env.rt, &with_node_port(&web("roll", 3, "v1"), port));
    wait("3 ready v1 pods", Duration::from_secs(60), || {
        let p = pods(&env.rt, "roll");
        (p.len() == 3 && p.iter().all(ready)).then_some(())
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..100 {
        if client.get(&url).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, v2_seen) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let load = {
        let (stop, ok, failed, v2_seen, client, url) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            v2_seen.clone(),
            client.clone(),
            url.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        ok.fetch_add(1, Ordering::SeqCst);
                        if r.text().await.unwrap_or_default() == "v2\n" {
                            v2_seen.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    other => {
                        eprintln!("failed request: {other:?}");
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = apply(&env.rt, &with_node_port(&web("roll", 3, "v2"), port));
    assert!(
        out.iter()
            .any(|o| o.object == "deployment.apps/roll" && o.action == "configured"),
        "{out:?}"
    );
    wait("only 3 ready v2 pods", Duration::from_secs(120), || {
        let all = env
            .rt
            .list(ferry_runtime::kinds::Kind::Pod, Some("default"));
        let roll: Vec<_> = all
            .iter()
            .filter(|p| p.pointer("/metadata/labels/app").and_then(|v| v.as_str()) == Some("roll"))
            .collect();
        let v2 = roll
            .iter()
            .filter(|p| {
                p.pointer("/spec/containers/0/image")
                    .and_then(|v| v.as_str())
                    == Some("web:v2")
                    && ready(p)
            })
            .count();
        (roll.len() == 3 && v2 == 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed requests during the rollout ({} ok)",
        ok.load(Ordering::SeqCst)
    );
    assert!(
        ok.load(Ordering::SeqCst) > 20,
        "too few requests made: {}",
        ok.load(Ordering::SeqCst)
    );
    assert!(v2_seen.load(Ordering::SeqCst) > 0);
    let body = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "v2\n");
    let d = env
        .rt
        .get(ferry_runtime::kinds::Kind::Deployment, "default", "roll")
        .unwrap();
    assert_eq!(
        d.pointer("/status/updatedReplicas")
            .and_then(|v| v.as_i64()),
        Some(3)
    );

    // Undo goes back to v1 (revision history kept).
    let msg = env.rt.rollout_undo("default", "roll", None).unwrap();
    assert!(msg.contains("rolled back to revision 1"), "{msg}");
    wait("only v1 pods again", Duration::from_secs(120), || {
        let p = pods(&env.rt, "roll");
        let v1 = p
            .iter()
            .filter(|p| {
                p.pointer("/spec/containers/0/image")
                    .and_then(|v| v.as_str())
                    == Some("web:v1")
                    && ready(p)
            })
            .count();
        (p.len() == 3 && v1 == 3).then_some(())
    })
    .await;
    env.rt.shutdown().await;
}
