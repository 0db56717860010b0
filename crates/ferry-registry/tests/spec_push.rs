//! The Distribution Spec's push workflow over real HTTP: monolithic and
//! single-request uploads, chunked uploads with `Content-Range`, status and
//! resume after a dropped connection, cancel, cross-repository mount,
//! manifest checks, sha512, and the spec's error codes for bad input.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn monolithic_post_then_put() {
    let reg = start().await;
    let data = bytes(70_000, 1);
    let digest = sha256(&data);
    let c = client();
    let r = c
        .post(format!("{}/v2/a/b/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/v2/a/b/blobs/uploads/"), "{loc}");
    assert_eq!(r.headers()["range"], "0-0");
    let r = c
        .put(format!("{}{loc}?digest={digest}", reg.url))
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/a/b/blobs/{digest}").as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let got = c
        .get(format!("{}/v2/a/b/blobs/{digest}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_with_status_out_of_order_and_finish() {
    let reg = start().await;
    let data = bytes(3 * 1024 * 1024 + 17, 2);
    let digest = sha256(&data);
    let c = client();
    let r = c
        .post(format!("{}/v2/chunky/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    let mut loc = r.headers()["location"].to_str().unwrap().to_string();
    let chunk = 1024 * 1024;
    let mut offset = 0;
    while offset < data.len() - 17 {
        let end = (offset + chunk).min(data.len() - 17);
        let r = c
            .patch(format!("{}{loc}", reg.url))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{}-{}", offset, end - 1))
            .body(data[offset..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()["range"], format!("0-{}", end - 1).as_str());
        loc = r.headers()["location"].to_str().unwrap().to_string();
        offset = end;
    }
    // A chunk that does not start where the upload ends: 416.
    let r = c
        .patch(format!("{}{loc}", reg.url))
        .header("content-range", "5-9")
        .body(vec![0u8; 5])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    // Status says where to continue.
    let r = c.get(format!("{}{loc}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], format!("0-{}", offset - 1).as_str());
    // The last bytes ride on the closing PUT.
    let r = c
        .put(format!("{}{loc}?digest={digest}", reg.url))
        .header("content-range", format!("{}-{}", offset, data.len() - 1))
        .body(data[offset..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = c
        .get(format!("{}/v2/chunky/blobs/{digest}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(sha256(&got.bytes().await.unwrap()), digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_resumes_after_a_dropped_connection() {
    let reg = start().await;
    let data = bytes(4 * 1024 * 1024, 3);
    let digest = sha256(&data);
    let c = client();
    let r = c
        .post(format!("{}/v2/resume/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    // Send 2.5 MiB, then fail the body stream: the connection is cut.
    let first: Vec<Result<Vec<u8>, std::io::Error>> = data[..5 * 512 * 1024]
        .chunks(256 * 1024)
        .map(|c| Ok(c.to_vec()))
        .chain(std::iter::once(Err(std::io::Error::other("cable cut"))))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(first));
    let cut = c.patch(format!("{}{loc}", reg.url)).body(body).send().await;
    assert!(cut.is_err(), "the request must fail");
    // The server kept what arrived; ask where to resume.
    let received = ferry_poll(&c, &format!("{}{loc}", reg.url)).await;
    assert!(
        received > 0 && received <= 5 * 512 * 1024,
        "received {received}"
    );
    let r = c
        .patch(format!("{}{loc}", reg.url))
        .header("content-range", format!("{}-{}", received, data.len() - 1))
        .body(data[received as usize..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .put(format!("{}{loc}?digest={digest}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = c
        .get(format!("{}/v2/resume/blobs/{digest}", reg.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&got), digest);
}

/// The upload's size once the cut request has been fully processed (the
/// size stops changing between two status calls).
async fn ferry_poll(c: &reqwest::Client, url: &str) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = u64::MAX;
    loop {
        let r = c.get(url).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let range = r.headers()["range"].to_str().unwrap().to_string();
        let end: u64 = range.trim_start_matches("0-").parse().unwrap();
        let size = if end == 0 { 0 } else { end + 1 };
        if size == last && size > 0 {
            return size;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "upload size never settled"
        );
        last = size;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_single_post_and_digest_mismatch() {
    let reg = start().await;
    let c = client();
    let r = c
        .post(format!("{}/v2/x/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        c.delete(format!("{}{loc}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = c.get(format!("{}{loc}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    // Single POST with a digest that does not match the body.
    let wrong = sha256(b"something else");
    let r = c
        .post(format!("{}/v2/x/blobs/uploads/?digest={wrong}", reg.url))
        .body(b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c
        .head(format!("{}/v2/x/blobs/{wrong}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "nothing half-written is served");
    let right = sha256(b"hello");
    let r = c
        .get(format!("{}/v2/x/blobs/{right}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A malformed digest.
    let r = c
        .post(format!("{}/v2/x/blobs/uploads/?digest=sha256:zz", reg.url))
        .body(b"hello".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_repository_mount() {
    let reg = start().await;
    let c = client();
    let digest = push_blob(&reg.url, "src/repo", b"shared layer").await;
    let r = c
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={digest}&from=src/repo",
            reg.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/v2/dst/blobs/{digest}").as_str()
    );
    assert_eq!(
        c.head(format!("{}/v2/dst/blobs/{digest}", reg.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // From a repository that lacks the blob: an ordinary upload session.
    let r = c
        .post(format!(
            "{}/v2/dst2/blobs/uploads/?mount={digest}&from=nothing",
            reg.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/v2/dst2/blobs/uploads/")
    );
}

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

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pushes_of_the_same_blob_store_it_once() {
    let reg = start().await;
    let data = bytes(2 * 1024 * 1024, 42);
    let digest = sha256(&data);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (url, data, digest) = (reg.url.clone(), data.clone(), digest.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let repo = format!("same/r{}", i % 3);
            if i % 2 == 0 {
                let r = c
                    .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={digest}"))
                    .body(data)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            } else {
                let r = c
                    .post(format!("{url}/v2/{repo}/blobs/uploads/"))
                    .send()
                    .await
                    .unwrap();
                let loc = r.headers()["location"].to_str().unwrap().to_string();
                let stream = futures_util::stream::iter(
                    data.chunks(100_000)
                        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                        .collect::<Vec<_>>(),
                );
                let r = c
                    .patch(format!("{url}{loc}"))
                    .body(reqwest::Body::wrap_stream(stream))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                let r = c
                    .put(format!("{url}{loc}?digest={digest}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let hex = digest.trim_start_matches("sha256:");
    let path = reg
        .dir
        .path()
        .join("registry/store/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    assert_eq!(std::fs::read(&path).unwrap(), data, "stored once, intact");
    let uploads = std::fs::read_dir(reg.dir.path().join("registry/store/uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "duplicates were dropped");
    for r in 0..3 {
        let got = client()
            .get(format!("{}/v2/same/r{r}/blobs/{digest}", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(sha256(&got.bytes().await.unwrap()), digest);
    }
}
