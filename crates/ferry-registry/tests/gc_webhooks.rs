//! Online GC in-process (orphans older than the grace period go, referenced
//! and fresh blobs stay, `--dry-run` changes nothing, `untagged` removes
//! unreachable manifests but keeps referrers of kept ones, GC while pushes
//! run loses nothing) and webhooks (CloudEvents JSON, retried, logged).

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use ferry_core::registry_spec::{RegistrySpec, RegistryWebhook};
use ferry_registry::GcOptions;

fn age_blobs(dir: &std::path::Path, except: &[&str]) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    for p in std::fs::read_dir(dir.join("registry/store/blobs/sha256")).unwrap() {
        for f in std::fs::read_dir(p.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            if except.iter().any(|e| e.ends_with(&name)) {
                continue;
            }
            std::fs::File::options()
                .write(true)
                .open(f.path())
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
}

fn opts(dry_run: bool, untagged: bool) -> GcOptions {
    GcOptions {
        dry_run,
        untagged,
        grace: Duration::from_secs(600),
        upload_expiry: Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_removes_old_orphans_only_and_dry_run_changes_nothing() {
    let reg = start().await;
    let (d1, _) = push_image(&reg.url, "gc/app", "v1", 1).await;
    let orphan = push_blob(&reg.url, "gc/app", b"orphan layer").await;
    age_blobs(reg.dir.path(), &[]);
    let fresh_orphan = push_blob(&reg.url, "gc/app", b"fresh orphan").await;

    let dry = reg.registry.gc(&opts(true, false)).await.unwrap();
    assert_eq!(dry.blobs_removed, vec![orphan.clone()]);
    // GET, not HEAD: a HEAD marks the blob as used (pushers check with it).
    assert_eq!(
        client()
            .get(format!("{}/v2/gc/app/blobs/{orphan}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let report = reg.registry.gc(&opts(false, false)).await.unwrap();
    assert_eq!(report.blobs_removed, vec![orphan.clone()]);
    assert_eq!(report.bytes_freed, 12);
    assert_eq!(
        client()
            .head(format!("{}/v2/gc/app/blobs/{orphan}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .head(format!("{}/v2/gc/app/blobs/{fresh_orphan}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = client()
        .get(format!("{}/v2/gc/app/manifests/v1", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256(&r.bytes().await.unwrap()), d1);
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_untagged_removes_unreachable_manifests_but_keeps_referrers() {
    let reg = start().await;
    let (kept, kept_body) = push_image(&reg.url, "u/app", "v1", 1).await;
    let (old, _) = push_image(&reg.url, "u/app", "v0", 2).await;
    // A signature on the kept image (untagged itself).
    let empty = push_blob(&reg.url, "u/app", b"{}").await;
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": kept, "size": kept_body.len()}
    }))
    .unwrap();
    let sig_digest = put_manifest(&reg.url, "u/app", &sha256(&sig), &sig, OCI_MANIFEST).await;
    // Untag v0.
    assert_eq!(
        client()
            .delete(format!("{}/v2/u/app/manifests/v0", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    age_blobs(reg.dir.path(), &[]);
    // Without `untagged`, the untagged manifest stays.
    let r = reg.registry.gc(&opts(false, false)).await.unwrap();
    assert!(
        r.manifests_removed.is_empty() && r.blobs_removed.is_empty(),
        "{r:?}"
    );
    let r = reg.registry.gc(&opts(false, true)).await.unwrap();
    assert_eq!(r.manifests_removed, vec![format!("u/app@{old}")]);
    assert_eq!(
        r.blobs_removed.len(),
        3,
        "manifest, config and layer of v0: {r:?}"
    );
    assert_eq!(
        client()
            .get(format!("{}/v2/u/app/manifests/{old}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client()
            .get(format!("{}/v2/u/app/manifests/{sig_digest}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let v: serde_json::Value = client()
        .get(format!("{}/v2/u/app/referrers/{kept}", reg.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["manifests"][0]["digest"], sig_digest.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_during_concurrent_pushes_loses_nothing() {
    let reg = start().await;
    for i in 0..50u64 {
        push_blob(&reg.url, "junk", &bytes(3000, 5000 + i)).await;
    }
    age_blobs(reg.dir.path(), &[]);
    let pushers: Vec<_> = (0..4u64)
        .map(|w| {
            let url = reg.url.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..8u64 {
                    let (repo, tag) = (format!("busy/w{w}"), format!("t{i}"));
                    let (d, _) = push_image(&url, &repo, &tag, w * 100 + i).await;
                    out.push((repo, tag, d));
                }
                out
            })
        })
        .collect();
    let mut runs = 0;
    let mut removed = 0;
    while !pushers.iter().all(|p| p.is_finished()) || runs == 0 {
        removed += reg
            .registry
            .gc(&opts(false, runs % 2 == 1))
            .await
            .unwrap()
            .blobs_removed
            .len();
        runs += 1;
    }
    assert_eq!(removed, 50, "the aged junk went, nothing else");
    for p in pushers {
        for (repo, tag, digest) in p.await.unwrap() {
            let r = client()
                .get(format!("{}/v2/{repo}/manifests/{tag}", reg.url))
                .send()
                .await
                .unwrap();
            let body = r.bytes().await.unwrap();
            assert_eq!(sha256(&body), digest);
            let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
            for b in [&m["config"]["digest"], &m["layers"][0]["digest"]] {
                let got = client()
                    .get(format!(
                        "{}/v2/{repo}/blobs/{}",
                        reg.url,
                        b.as_str().unwrap()
                    ))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(got.status(), 200);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_send_cloudevents_with_retries_and_a_delivery_log() {
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let r2 = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let r = r2.clone();
                async move {
                    let mut got = r.lock().unwrap();
                    let ct = headers["content-type"].to_str().unwrap().to_string();
                    got.push((ct, serde_json::from_slice(&body).unwrap()));
                    // Fail the first delivery to exercise the retry.
                    if got.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let spec = RegistrySpec {
        webhooks: vec![RegistryWebhook {
            name: "ci".into(),
            url: hook,
            max_attempts: Some(3),
        }],
        ..Default::default()
    };
    let reg = start_with(spec).await;
    let (digest, _) = push_image(&reg.url, "hooked/app", "v1", 1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "webhook not retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = received.lock().unwrap().clone();
    assert!(got[1].0.starts_with("application/cloudevents+json"));
    let ev = &got[1].1;
    assert_eq!(ev["specversion"], "1.0");
    assert_eq!(ev["type"], "dev.ferry.image.pushed");
    assert_eq!(ev["source"], "/ferry/regions/uk/registry");
    assert_eq!(ev["data"]["digest"], digest.as_str());
    assert_eq!(
        ev["id"], got[0].1["id"],
        "a retry carries the same event id"
    );
    let log_path = reg.dir.path().join("registry/webhooks.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() == 2 {
            assert_eq!(
                (lines[0]["ok"].as_bool(), lines[0]["status"].as_u64()),
                (Some(false), Some(500))
            );
            assert_eq!(
                (lines[1]["ok"].as_bool(), lines[1]["attempt"].as_u64()),
                (Some(true), Some(2))
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "delivery log: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
