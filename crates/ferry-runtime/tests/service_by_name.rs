//! A 3-replica Deployment behind a Service, reached by name from another
//! pod through ferry's in-pod listener; apply is idempotent.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_reached_by_service_name_from_a_pod() {
    let env = env().await;
    let out = apply(&env.rt, &format!("{}---\n{TOOLS}", web("hello", 3, "v1")));
    assert!(out.iter().all(|o| o.action == "created"), "{out:?}");
    wait("3 ready hello pods", Duration::from_secs(60), || {
        let p = pods(&env.rt, "hello");
        if p.len() == 3 && p.iter().all(ready) {
            Some(())
        } else {
            dump(&env.rt);
            None
        }
    })
    .await;
    wait("tools running", Duration::from_secs(30), || {
        pods(&env.rt, "tools")
            .first()
            .filter(|p| p.pointer("/status/phase").and_then(|v| v.as_str()) == Some("Running"))
            .map(|_| ())
    })
    .await;
    for host in ["hello", "hello.default", "hello.default.svc.cluster.local"] {
        let mut body = None;
        for _ in 0..50 {
            body = fetch(&env.rt, host, 80).await;
            if body.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(body.as_deref(), Some("v1\n"), "{host}");
    }
    let again = apply(&env.rt, &format!("{}---\n{TOOLS}", web("hello", 3, "v1")));
    assert!(again.iter().all(|o| o.action == "unchanged"), "{again:?}");
    env.rt.shutdown().await;
    let leftover = std::fs::read_dir(env.dir.path().join("runtime/pods"))
        .unwrap()
        .count();
    assert_eq!(leftover, 0, "pod directories left after shutdown");
}
