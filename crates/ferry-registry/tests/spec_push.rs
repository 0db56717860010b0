//! The Distribution Spec's push workflow for blobs over real HTTP:
//! monolithic and single-request uploads, chunked uploads with
//! `Content-Range`, status and resume after a dropped connection, cancel,
//! digest mismatch, cross-repository mount and concurrent pushes. Manifest
//! pushes are in `spec_push_manifests.rs`.

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
    let received = settled_upload_size(&c, &format!("{}{loc}", reg.url)).await;
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
