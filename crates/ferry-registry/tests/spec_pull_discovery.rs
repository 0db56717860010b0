//! The Distribution Spec's pull and content-discovery workflows over real
//! HTTP: manifests by tag and digest, blobs with `Range`, tag and catalog
//! pages with `Link`, referrers with the `artifactType` filter. Deletes are
//! in `spec_content_management.rs`.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn pull_by_tag_and_digest_with_ranges() {
    let reg = start().await;
    let c = client();
    let r = c.get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (digest, body) = push_image(&reg.url, "pull/me", "v1", 7).await;
    for reference in ["v1", digest.as_str()] {
        let r = c
            .get(format!("{}/v2/pull/me/manifests/{reference}", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);
        let h = c
            .head(format!("{}/v2/pull/me/manifests/{reference}", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(
            h.headers()["content-length"],
            body.len().to_string().as_str()
        );
    }
    let layer = bytes(1000 + 7, 7);
    let ld = sha256(&layer);
    let r = c
        .get(format!("{}/v2/pull/me/blobs/{ld}", reg.url))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", layer.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &layer[10..20]);
    let r = c
        .get(format!("{}/v2/pull/me/blobs/{ld}", reg.url))
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &layer[layer.len() - 5..]);
    let r = c
        .get(format!("{}/v2/pull/me/blobs/{ld}", reg.url))
        .header("range", format!("bytes={}-", layer.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", layer.len()).as_str()
    );

    // Unknown things.
    let r = c
        .get(format!("{}/v2/pull/me/manifests/nope", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = c
        .get(format!("{}/v2/no/such/repo/manifests/v1", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{}/v2/pull/me/blobs/{}", reg.url, sha256(b"x")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = c
        .head(format!("{}/v2/pull/me/blobs/{}", reg.url, sha256(b"x")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_catalog_paginate_with_link() {
    let reg = start().await;
    let c = client();
    for (i, tag) in ["b", "a", "d", "c", "e"].iter().enumerate() {
        push_image(&reg.url, "paged", tag, i as u64).await;
    }
    for repo in ["z/last", "a/first"] {
        push_image(&reg.url, repo, "t", 99).await;
    }
    let r = c
        .get(format!("{}/v2/paged/tags/list", reg.url))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({"name": "paged", "tags": ["a", "b", "c", "d", "e"]})
    );
    let r = c
        .get(format!("{}/v2/paged/tags/list?n=2", reg.url))
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(link, "</v2/paged/tags/list?n=2&last=b>; rel=\"next\"");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let r = c.get(format!("{}{next}", reg.url)).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));
    let r = c
        .get(format!("{}/v2/paged/tags/list?n=2&last=d", reg.url))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["e"]));
    let r = c
        .get(format!("{}/v2/paged/tags/list?n=0", reg.url))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!([]));
    let r = c
        .get(format!("{}/v2/unknown/tags/list", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");

    let r = c
        .get(format!("{}/v2/_catalog?n=2", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["link"],
        "</v2/_catalog?n=2&last=paged>; rel=\"next\""
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["a/first", "paged"]));
    let r = c
        .get(format!("{}/v2/_catalog?n=2&last=paged", reg.url))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["z/last"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_list_filter_and_subject_header() {
    let reg = start().await;
    let c = client();
    let (subject, subject_body) = push_image(&reg.url, "ref", "app", 1).await;
    let empty = push_blob(&reg.url, "ref", b"{}").await;
    let mut pushed = Vec::new();
    for (i, artifact_type) in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
        "application/vnd.example.sig",
    ]
    .iter()
    .enumerate()
    {
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_CONFIG, "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_body.len()},
            "annotations": {"n": i.to_string()}
        }))
        .unwrap();
        let r = c
            .put(format!("{}/v2/ref/manifests/{}", reg.url, sha256(&body)))
            .header("content-type", OCI_MANIFEST)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
        pushed.push(sha256(&body));
    }
    let r = c
        .get(format!("{}/v2/ref/referrers/{subject}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["schemaVersion"], 2);
    let mut digests: Vec<String> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    digests.sort();
    let mut want = pushed.clone();
    want.sort();
    assert_eq!(digests, want);
    let r = c
        .get(format!(
            "{}/v2/ref/referrers/{subject}?artifactType=application/vnd.example.sig",
            reg.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    assert!(
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["artifactType"] == "application/vnd.example.sig")
    );
    // Deleting a referrer removes it from the list.
    assert_eq!(
        c.delete(format!("{}/v2/ref/manifests/{}", reg.url, pushed[0]))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let v: serde_json::Value = c
        .get(format!("{}/v2/ref/referrers/{subject}", reg.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    // Unknown subject: an empty index, never 404; bad digest: 400.
    let r = c
        .get(format!("{}/v2/ref/referrers/{}", reg.url, sha256(b"none")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/v2/ref/referrers/sha256:bad", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
