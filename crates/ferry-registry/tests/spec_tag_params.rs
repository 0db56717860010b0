//! Tag parameters on a manifest push (distribution-spec 1.2): every tag
//! named by `?tag=` is set, listed in `OCI-Tag` and announced; one invalid
//! tag refuses the whole push.

mod common;

use common::*;

/// `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b` (distribution-spec 1.2's
/// tag parameters) tags the manifest with each, lists them in `OCI-Tag`, and
/// publishes one `ImagePushed` per tag; one invalid tag refuses the whole
/// request with `TAG_INVALID` and stores nothing.
#[tokio::test]
async fn manifest_put_with_tag_parameters() {
    let reg = start().await;
    let c = client();
    let mut events = reg.events.subscribe();
    let config = push_blob(&reg.url, "tp", b"{\"tp\":1}").await;
    let body = image_manifest((&config, 8), &[], serde_json::json!({}));
    let digest = sha256(&body);

    let r = c
        .put(format!(
            "{}/v2/tp/manifests/{digest}?tag=v1&tag=bad%20tag",
            reg.url
        ))
        .header("content-type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "TAG_INVALID");
    let get = |path: String| {
        let c = c.clone();
        async move { c.get(path).send().await.unwrap().status() }
    };
    assert_eq!(
        get(format!("{}/v2/tp/manifests/{digest}", reg.url)).await,
        404
    );
    assert_eq!(get(format!("{}/v2/tp/manifests/v1", reg.url)).await, 404);

    let r = c
        .put(format!(
            "{}/v2/tp/manifests/{digest}?tag=v1&tag=latest&tag=v1",
            reg.url
        ))
        .header("content-type", OCI_MANIFEST)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["oci-tag"], "v1, latest");
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    for tag in ["v1", "latest"] {
        let r = c
            .get(format!("{}/v2/tp/manifests/{tag}", reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{tag}");
        assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    }
    let mut tagged = Vec::new();
    while let Ok(Ok(e)) =
        tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await
    {
        if let ferry_core::events::Event::ImagePushed {
            repository, tag, ..
        } = &*e
            && repository == "tp"
        {
            tagged.push(tag.clone());
        }
    }
    assert_eq!(tagged, [Some("v1".to_string()), Some("latest".to_string())]);
}
