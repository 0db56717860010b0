//! The Distribution Spec's content-management workflow over real HTTP:
//! deletes of manifests, tags and blobs, the events pushes and deletes
//! publish, and the metrics requests, bytes and storage are counted in.

mod common;

use common::*;
use ferry_core::events::Event;

#[tokio::test(flavor = "multi_thread")]
async fn deletes_and_events() {
    let reg = start().await;
    let mut rx = reg.events.subscribe();
    let c = client();
    let (digest, _) = push_image(&reg.url, "del", "v1", 5).await;
    put_manifest(
        &reg.url,
        "del",
        "v2",
        &c.get(format!("{}/v2/del/manifests/v1", reg.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        OCI_MANIFEST,
    )
    .await;
    match &*rx.recv().await.unwrap() {
        Event::ImagePushed {
            region,
            repository,
            tag,
            digest: d,
        } => {
            assert_eq!(
                (
                    region.as_str(),
                    repository.as_str(),
                    tag.as_deref(),
                    d.as_str()
                ),
                ("uk", "del", Some("v1"), digest.as_str())
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // Delete a tag: the other tag and the digest still resolve.
    assert_eq!(
        c.delete(format!("{}/v2/del/manifests/v1", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        c.get(format!("{}/v2/del/manifests/v1", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("{}/v2/del/manifests/v2", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Delete by digest: every tag pointing to it goes too.
    assert_eq!(
        c.delete(format!("{}/v2/del/manifests/{digest}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        c.get(format!("{}/v2/del/manifests/{digest}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("{}/v2/del/manifests/v2", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = c
        .delete(format!("{}/v2/del/manifests/{digest}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Delete a blob.
    let layer = sha256(&bytes(1000 + 5, 5));
    assert_eq!(
        c.delete(format!("{}/v2/del/blobs/{layer}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        c.get(format!("{}/v2/del/blobs/{layer}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.delete(format!("{}/v2/del/blobs/{layer}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let mut kinds = Vec::new();
    while let Ok(e) = rx.try_recv() {
        kinds.push(e.cloud_event_type());
    }
    assert_eq!(
        kinds,
        [
            "dev.ferry.image.pushed",
            "dev.ferry.image.deleted",
            "dev.ferry.image.deleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_bytes_and_storage() {
    let reg = start().await;
    push_image(&reg.url, "met", "v1", 3).await;
    client()
        .get(format!("{}/v2/met/manifests/v1", reg.url))
        .send()
        .await
        .unwrap();
    client()
        .get(format!("{}/v2/met/manifests/nope", reg.url))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg.metrics.lock().unwrap()).unwrap();
    assert!(
        text.contains(
            r#"ferry_registry_requests_total{route="manifest",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"ferry_registry_requests_total{route="manifest",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("ferry_registry_manifests 1"), "{text}");
    assert!(text.contains("ferry_registry_blobs 3"), "{text}");
    assert!(
        text.contains("ferry_registry_received_bytes_total"),
        "{text}"
    );
}
