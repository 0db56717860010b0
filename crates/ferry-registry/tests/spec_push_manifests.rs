//! The Distribution Spec's push workflow for manifests over real HTTP:
//! reference and input checks with the spec's error codes, sha512 blobs
//! and manifests, and Docker media types.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn manifest_put_checks_references_and_input() {
    let reg = start().await;
    let c = client();
    let config = push_blob(&reg.url, "m", b"{}").await;
    let missing = sha256(b"never uploaded");
    let body = image_manifest((&config, 2), &[(&missing, 14)], serde_json::json!({}));
    let r = c
        .put(format!("{}/v2/m/manifests/v1", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        c.get(format!("{}/v2/m/manifests/v1", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A blob that exists, but only in another repository, does not count.
    let elsewhere = push_blob(&reg.url, "other", b"layer").await;
    let body = image_manifest((&config, 2), &[(&elsewhere, 5)], serde_json::json!({}));
    let r = c
        .put(format!("{}/v2/m/manifests/v1", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");

    // An index naming a manifest the repository lacks.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 10}]
    }))
    .unwrap();
    let r = c
        .put(format!("{}/v2/m/manifests/idx", reg.url))
        .header("content-type", OCI_INDEX)
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");

    for bad in [
        &b"{not json"[..],
        br#"{"schemaVersion":1}"#,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
    ] {
        let r = c
            .put(format!("{}/v2/m/manifests/bad", reg.url))
            .header("content-type", OCI_MANIFEST)
            .body(bad.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    }
    // Reference by digest must match the body.
    let good = image_manifest((&config, 2), &[], serde_json::json!({}));
    let r = c
        .put(format!("{}/v2/m/manifests/{missing}", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // Too large: 413.
    let huge = vec![b' '; 5 << 20];
    let r = c
        .put(format!("{}/v2/m/manifests/huge", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Names outside the grammar.
    for name in ["UPPER", "a//b", "a-", "_x"] {
        let r = c
            .get(format!("{}/v2/{name}/manifests/latest", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(error_code(r).await, "NAME_INVALID");
    }
    // Tags outside the grammar.
    let r = c
        .put(format!("{}/v2/m/manifests/.bad", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn sha512_blobs_and_manifests_and_docker_media_types() {
    use sha2::Digest as _;
    let reg = start().await;
    let c = client();
    let data = bytes(5000, 9);
    let d512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
    let r = c
        .post(format!("{}/v2/s/blobs/uploads/?digest={d512}", reg.url))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = c
        .get(format!("{}/v2/s/blobs/{d512}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["docker-content-digest"], d512.as_str());
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);

    // A Docker schema 2 manifest addressed by its sha512 digest.
    let config = push_blob(&reg.url, "s", b"{\"a\":1}").await;
    let docker = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 7},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d512, "size": 5000}]
    }))
    .unwrap();
    let m512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&docker)));
    let dt = "application/vnd.docker.distribution.manifest.v2+json";
    let d = put_manifest(&reg.url, "s", &m512, &docker, dt).await;
    assert_eq!(d, m512);
    let r = c
        .get(format!("{}/v2/s/manifests/{m512}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], dt);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &docker[..]);
    // And a manifest list over it, tagged.
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": dt, "digest": m512, "size": docker.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}]
    }))
    .unwrap();
    put_manifest(
        &reg.url,
        "s",
        "multi",
        &list,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
    .await;
    let r = c
        .head(format!("{}/v2/s/manifests/multi", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
}
