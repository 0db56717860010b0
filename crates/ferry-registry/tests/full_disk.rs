//! A full disk under the registry's store (issue 18): each test serves the
//! registry from a tmpfs of a few MiB ([`SmallFs`], unmounted on drop) and
//! fills it with a monolithic upload, a chunked one and a manifest put. The
//! push is answered `507 Insufficient Storage` with an OCI error body that
//! says the storage is full and what to do; nothing of it is left in the
//! store (no upload session, no staging file, no blob, no link); the
//! images pushed before still pull byte for byte, and once space is free
//! again a push succeeds. skopeo, pushing a layer too big for the disk,
//! reports `507 Insufficient Storage` (it shows no body on a 5xx, so the
//! status is the message there). Needs root (mount).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ferry_test_support::SmallFs;

/// The store's files under `area` (`uploads`, `tmp`, `blobs`).
fn store_files(fs: &SmallFs, area: &str) -> Vec<String> {
    fs.files(&format!("reg/store/{area}"))
}

/// Asserts `r` is the full-disk answer: 507 with an OCI error that says so
/// and says what to do.
async fn assert_full(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 507, "{what}: status");
    let v: serde_json::Value = r.json().await.expect("OCI error JSON");
    let message = v["errors"][0]["message"].as_str().unwrap_or_default();
    assert_eq!(v["errors"][0]["code"], "UNKNOWN", "{what}: {v}");
    for needle in ["no space left", "gc", "push again"] {
        assert!(
            message.contains(needle),
            "{what}: `{needle}` in {message:?}"
        );
    }
}

/// Pulls `digest` from `repo` (a manifest or a blob) and compares it with
/// `want` byte for byte.
async fn assert_pulls(url: &str, repo: &str, kind: &str, digest: &str, want: &[u8]) {
    let r = client()
        .get(format!("{url}/v2/{repo}/{kind}/{digest}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "pull {kind} {digest}");
    assert_eq!(&r.bytes().await.unwrap()[..], want, "{kind} {digest}");
}

/// An image pushed before the disk filled, kept to be pulled afterwards.
struct Earlier {
    manifest: (String, Vec<u8>),
    layer: (String, Vec<u8>),
}

async fn push_earlier(url: &str) -> Earlier {
    let layer = bytes(3 << 20, 5);
    let l = push_blob(url, "app", &layer).await;
    let config = b"{\"earlier\":true}".to_vec();
    let c = push_blob(url, "app", &config).await;
    let m = image_manifest(
        (&c, config.len()),
        &[(&l, layer.len())],
        serde_json::json!({}),
    );
    let d = put_manifest(url, "app", "v1", &m, OCI_MANIFEST).await;
    Earlier {
        manifest: (d, m),
        layer: (l, layer),
    }
}

async fn assert_still_served(url: &str, e: &Earlier) {
    assert_pulls(url, "app", "manifests", &e.manifest.0, &e.manifest.1).await;
    assert_pulls(url, "app", "manifests", "v1", &e.manifest.1).await;
    assert_pulls(url, "app", "blobs", &e.layer.0, &e.layer.1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monolithic_upload_that_fills_the_disk_is_507_and_leaves_nothing() {
    let fs = SmallFs::mount(16);
    let reg = start_in(fs.path().join("reg")).await;
    let earlier = push_earlier(&reg.url).await;
    let blobs_before = store_files(&fs, "blobs");

    let big = bytes(24 << 20, 9);
    let digest = sha256(&big);
    let r = client()
        .post(format!("{}/v2/app/blobs/uploads/?digest={digest}", reg.url))
        .header("content-type", "application/octet-stream")
        .body(big.clone())
        .send()
        .await
        .expect("the registry answers (no reset)");
    assert_full(r, "monolithic POST").await;

    assert_eq!(store_files(&fs, "uploads"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "tmp"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "blobs"), blobs_before, "no new blob");
    let r = client()
        .head(format!("{}/v2/app/blobs/{digest}", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the failed blob is unknown");
    assert_still_served(&reg.url, &earlier).await;
    // The failed upload's space is free again: a smaller push succeeds.
    push_blob(&reg.url, "app", &bytes(4 << 20, 10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_upload_that_fills_the_disk_is_507_and_drops_its_session() {
    let fs = SmallFs::mount(16);
    let reg = start_in(fs.path().join("reg")).await;
    let earlier = push_earlier(&reg.url).await;
    let blobs_before = store_files(&fs, "blobs");
    let c = client();

    let r = c
        .post(format!("{}/v2/app/blobs/uploads/", reg.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let session = format!("{}{}", reg.url, r.headers()["location"].to_str().unwrap());
    let first = bytes(1 << 20, 11);
    let r = c
        .patch(&session)
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "the first chunk fits");
    let second = bytes(24 << 20, 12);
    let r = c
        .patch(&session)
        .header(
            "content-range",
            format!("{}-{}", first.len(), first.len() + second.len() - 1),
        )
        .body(second)
        .send()
        .await
        .expect("the registry answers (no reset)");
    assert_full(r, "PATCH").await;

    let r = c.get(&session).send().await.unwrap();
    assert_eq!(r.status(), 404, "the session is gone");
    assert_eq!(store_files(&fs, "uploads"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "tmp"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "blobs"), blobs_before, "no new blob");
    assert_still_served(&reg.url, &earlier).await;
    push_blob(&reg.url, "app", &bytes(4 << 20, 13)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_put_on_a_full_disk_is_507_and_links_nothing() {
    let fs = SmallFs::mount(16);
    let reg = start_in(fs.path().join("reg")).await;
    let earlier = push_earlier(&reg.url).await;
    let config = b"{\"later\":true}".to_vec();
    let c = push_blob(&reg.url, "app", &config).await;
    let m = image_manifest(
        (&c, config.len()),
        &[(&earlier.layer.0, earlier.layer.1.len())],
        serde_json::json!({"annotations": {"pad": "x".repeat(9000)}}),
    );
    let blobs_before = store_files(&fs, "blobs");
    let ballast = fs.fill("ballast", 0);

    let r = client()
        .put(format!("{}/v2/app/manifests/v2", reg.url))
        .header("content-type", OCI_MANIFEST)
        .body(m.clone())
        .send()
        .await
        .unwrap();
    assert_full(r, "manifest PUT").await;

    assert_eq!(store_files(&fs, "tmp"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "blobs"), blobs_before, "no manifest blob");
    let r = client()
        .get(format!("{}/v2/app/manifests/v2", reg.url))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the tag was not linked");
    let r = client()
        .get(format!("{}/v2/app/tags/list", reg.url))
        .send()
        .await
        .unwrap();
    let tags: serde_json::Value = r.json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    assert_still_served(&reg.url, &earlier).await;

    std::fs::remove_file(ballast).unwrap();
    let d = put_manifest(&reg.url, "app", "v2", &m, OCI_MANIFEST).await;
    assert_pulls(&reg.url, "app", "manifests", &d, &m).await;
}

/// Writes an OCI layout at `dir` holding one image (`latest`) whose single
/// layer is `layer`.
fn layout_with_layer(dir: &Path, layer: &[u8]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        d
    };
    let l = put(layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}
    }))
    .unwrap();
    let c = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}]
    }))
    .unwrap();
    let m = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": m, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// skopeo with its caches and auth file inside `scratch`.
fn skopeo(scratch: &Path) -> Command {
    let mut c = Command::new("skopeo");
    c.env("HOME", scratch)
        .env("XDG_RUNTIME_DIR", scratch)
        .env("REGISTRY_AUTH_FILE", scratch.join("auth.json"));
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pushing_more_than_fits_says_insufficient_storage() {
    let fs = SmallFs::mount(16);
    let reg = start_in(fs.path().join("reg")).await;
    let tmp = ferry_test_support::temp_dir();
    let (small, big) = (tmp.path().join("small"), tmp.path().join("big"));
    layout_with_layer(&small, &bytes(2 << 20, 21));
    layout_with_layer(&big, &bytes(24 << 20, 22));
    std::fs::write(tmp.path().join("auth.json"), "{}").unwrap();
    let (host, t) = (reg.host.clone(), tmp.path().to_path_buf());
    let blobs_after_small = tokio::task::spawn_blocking({
        let fs_blobs = fs.path().join("reg/store/blobs");
        move || {
            let push = |src: &Path, tag: &str| {
                skopeo(&t)
                    .args(["copy", "--dest-tls-verify=false"])
                    .arg(format!("oci:{}:latest", src.display()))
                    .arg(format!("docker://{host}/app:{tag}"))
                    .output()
                    .expect("skopeo runs (scripts/setup.sh --test-peers)")
            };
            let out = push(&small, "small");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let blobs = std::fs::read_dir(&fs_blobs).map(|d| d.count()).unwrap();
            let out = push(&big, "big");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!out.status.success(), "the big push cannot succeed");
            // containers/image (like Docker's client) reads an error body on
            // 4xx only; on 5xx it shows the status line, so the status is
            // what tells the user the disk is full.
            assert!(
                stderr.contains("507 Insufficient Storage"),
                "skopeo says the registry's storage is full: {stderr}"
            );
            // skopeo compresses the layer on the way (docker:// wants gzip),
            // so the pushed manifest is read by tag, then pulled by digest.
            let inspect = |reference: &str| {
                let out = skopeo(&t)
                    .args(["inspect", "--raw", "--tls-verify=false"])
                    .arg(format!("docker://{host}/app{reference}"))
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                assert!(out.status.success(), "{err}");
                out.stdout
            };
            let by_tag = inspect(":small");
            let by_digest = inspect(&format!("@{}", sha256(&by_tag)));
            assert_eq!(by_digest, by_tag, "the earlier image pulls by digest");
            blobs
        }
    })
    .await
    .unwrap();
    assert!(blobs_after_small > 0);
    assert_eq!(store_files(&fs, "uploads"), Vec::<String>::new());
    assert_eq!(store_files(&fs, "tmp"), Vec::<String>::new());
}
