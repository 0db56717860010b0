//! The client against a real registry: CNCF Distribution on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_image::build::{ImageBuilder, Layer, busybox};
use ferry_image::client::{FileSource, UploadOptions};
use ferry_image::testutil::Distribution;
use ferry_image::{
    ImageRef, ProgressEvent, PullOptions, PushOptions, RegistryClient, Store, pull, push,
};

#[tokio::test(flavor = "multi_thread")]
async fn push_then_pull_round_trips_with_identical_digests() {
    let dir = ferry_test_support::temp_dir();
    let reg = Distribution::start(dir.path());
    let store = Store::open(dir.path().join("a")).unwrap();
    let built = busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, Some("httpd:v1"))
        .unwrap();
    let target = ImageRef::parse(&format!("{}/test/httpd:v1", reg.host())).unwrap();
    let client = RegistryClient::new(&reg.host(), None).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let opts = PushOptions {
        progress: Some(ferry_image::push::ProgressHandle(Arc::new(move |e| {
            if let ProgressEvent::Advance { bytes, .. } = e {
                counter.fetch_add(bytes, Ordering::Relaxed);
            }
        }))),
        ..PushOptions::default()
    };
    let digest = push(&client, &store, "httpd:v1", &target, &opts)
        .await
        .unwrap();
    assert_eq!(digest, built.digest());
    let total: u64 = built
        .manifest
        .layers()
        .iter()
        .map(|l| l.size())
        .sum::<u64>()
        + built.manifest.config().size();
    assert_eq!(sent.load(Ordering::Relaxed), total);

    // A second push sends nothing: every blob exists.
    sent.store(0, Ordering::Relaxed);
    push(&client, &store, "httpd:v1", &target, &opts)
        .await
        .unwrap();
    assert_eq!(sent.load(Ordering::Relaxed), 0);

    // Cross-repository mount: pushing to another repo mounts instead of uploading.
    let other = ImageRef::parse(&format!("{}/test/copy:v1", reg.host())).unwrap();
    let mount = PushOptions {
        mount_from: Some("test/httpd".into()),
        ..opts.clone()
    };
    push(&client, &store, "httpd:v1", &other, &mount)
        .await
        .unwrap();
    assert_eq!(sent.load(Ordering::Relaxed), 0);

    let fresh = Store::open(dir.path().join("b")).unwrap();
    let pulled = pull(&client, &target, &fresh, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.digest(), built.digest());
    for l in pulled.manifest.layers() {
        fresh.verify_blob(l.digest().as_ref()).unwrap();
    }
    assert_eq!(client.tags("test/httpd").await.unwrap(), vec!["v1"]);
    let mut repos = client.catalog().await.unwrap();
    repos.sort();
    assert_eq!(repos, vec!["test/copy", "test/httpd"]);
    let by_digest = target.with_digest(&digest);
    let again = pull(
        &client,
        &ImageRef {
            tag: None,
            ..by_digest
        },
        &fresh,
        &PullOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(again.digest(), digest);

    // skopeo, a real independent client, reads what we pushed.
    let out = std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{target}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ferry_image::digest::sha256(&out.stdout), digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_and_resume_from_reported_offset() {
    let dir = ferry_test_support::temp_dir();
    let reg = Distribution::start(dir.path());
    let client = RegistryClient::new(&reg.host(), None).unwrap();
    let blob = dir.path().join("blob");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&blob, &data).unwrap();
    let digest = ferry_image::digest::sha256(&data);
    let opts = UploadOptions {
        chunk_size: Some(1 << 20),
        ..Default::default()
    };
    assert!(
        client
            .upload_blob(
                "t/chunked",
                &digest,
                data.len() as u64,
                &FileSource(blob.clone()),
                &opts
            )
            .await
            .unwrap()
    );
    assert_eq!(
        client.blob_exists("t/chunked", &digest).await.unwrap(),
        Some(data.len() as u64)
    );

    // An upload cut after its first chunk resumes from the offset the
    // registry reports instead of starting again.
    let mut session = client.start_upload("t/resume").await.unwrap();
    let first = UploadOptions {
        chunk_size: Some(1 << 20),
        ..Default::default()
    };
    let _ = first; // the first chunk is sent by hand below
    let http = reqwest::Client::new();
    let resp = http
        .patch(&session.location)
        .header("Content-Range", format!("0-{}", (1 << 20) - 1))
        .header("Content-Type", "application/octet-stream")
        .body(data[..1 << 20].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    session.location = client_url(&reg, resp.headers()["location"].to_str().unwrap());
    assert_eq!(
        client
            .upload_status("t/resume", &session.location)
            .await
            .unwrap(),
        1 << 20
    );
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let resume = UploadOptions {
        resume: Some(session),
        progress: Some(Arc::new(move |e| {
            if let ProgressEvent::Advance { bytes, .. } = e {
                counter.fetch_add(bytes, Ordering::Relaxed);
            }
        })),
        ..Default::default()
    };
    client
        .upload_blob(
            "t/resume",
            &digest,
            data.len() as u64,
            &FileSource(blob),
            &resume,
        )
        .await
        .unwrap();
    assert_eq!(
        sent.load(Ordering::Relaxed),
        data.len() as u64 - (1 << 20),
        "only the rest was sent"
    );
    assert_eq!(
        client.blob_exists("t/resume", &digest).await.unwrap(),
        Some(data.len() as u64)
    );
}

fn client_url(reg: &Distribution, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_string()
    } else {
        format!("http://{}{loc}", reg.host())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gives_named_errors() {
    let dir = ferry_test_support::temp_dir();
    let reg = Distribution::start(dir.path());
    let client = RegistryClient::new(&reg.host(), None).unwrap();
    let store = Store::open(dir.path().join("s")).unwrap();
    let missing = ImageRef::parse(&format!("{}/nope/nothing:v9", reg.host())).unwrap();
    let e = pull(&client, &missing, &store, &PullOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nope/nothing:v9") && e.contains("not found"),
        "{e}"
    );
    let e = push(
        &client,
        &store,
        "never-built:v1",
        &missing,
        &PushOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("never-built:v1") && e.contains("build it first"),
        "{e}"
    );
    // A layer whose bytes do not match its digest is refused by the client.
    let mut l = Layer::new();
    l.insert(
        "/x",
        ferry_image::build::Entry::Data {
            data: b"x".to_vec(),
            mode: 0o644,
        },
    )
    .unwrap();
    let built = ImageBuilder::new()
        .layer(l)
        .build(&store, Some("x:1"))
        .unwrap();
    let layer = built.manifest.layers()[0].digest().to_string();
    std::fs::write(store.blob_path(&layer), b"corrupt").unwrap();
    let e = push(&client, &store, "x:1", &missing, &PushOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("size mismatch") && e.contains(&layer), "{e}");
    let unreachable =
        RegistryClient::new(&ferry_test_support::free_addr().to_string(), None).unwrap();
    let e = unreachable.ping().await.unwrap_err();
    assert!(
        e.is_transient() && e.to_string().contains("cannot reach registry"),
        "{e}"
    );
}
