//! A 1 GiB blob whose transfer to the target is cut halfway resumes from
//! where it stopped instead of starting again. The cut is made by a TCP
//! proxy in front of the target that drops the connection once it has
//! forwarded 400 MiB; the proxy also counts every byte sent to the target.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use ferry_core::events::EventBus;
use ferry_image::RegistryClient;
use ferry_image::client::{FileSource, UploadOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const GIB: u64 = 1 << 30;
const CUT_AT: u64 = 400 << 20;

/// Forwards `listen` → `upstream`, counting client-to-upstream bytes, and
/// cuts the one connection that pushes the total past `CUT_AT` (once).
async fn cutting_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let (s, c) = (sent.clone(), cut.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (sent, cut) = (s.clone(), c.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    if total >= CUT_AT && !cut.swap(true, Ordering::SeqCst) {
                        break; // drop both directions mid-request
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                down.abort();
            });
        }
    });
    (addr, sent, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_1gib_blob_resumes_instead_of_restarting() {
    let dir = ferry_test_support::temp_dir();
    let bus = EventBus::default();
    let a = Reg::start("a", dir.path(), &bus, ferry_test_support::free_addr()).await;
    let b = Reg::start(
        "b",
        dir.path(),
        &EventBus::default(),
        ferry_test_support::free_addr(),
    )
    .await;
    let (proxy, sent, cut) = cutting_proxy(b.addr).await;

    // A 1 GiB layer (a sparse file: fast to make, real bytes on the wire).
    let layer = dir.path().join("layer.bin");
    std::fs::File::create(&layer).unwrap().set_len(GIB).unwrap();
    let digest = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(&layer).unwrap();
        std::io::copy(&mut f, &mut h).unwrap();
        format!("sha256:{}", hex::encode(h.finalize()))
    };
    let src = RegistryClient::new(&a.host(), None).unwrap();
    src.upload_blob(
        "big/img",
        &digest,
        GIB,
        &FileSource(layer.clone()),
        &UploadOptions::default(),
    )
    .await
    .unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = ferry_image::digest::sha256(config);
    let cfg_file = dir.path().join("config.json");
    std::fs::write(&cfg_file, config).unwrap();
    src.upload_blob(
        "big/img",
        &config_digest,
        config.len() as u64,
        &FileSource(cfg_file),
        &UploadOptions::default(),
    )
    .await
    .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": GIB}],
    });
    let manifest = bytes::Bytes::from(serde_json::to_vec(&manifest).unwrap());

    // The engine reaches b only through the cutting proxy.
    let shutdown = CancellationToken::new();
    let engine = engine(
        dir.path().join("state"),
        vec![rule("big", &[])],
        a.addr,
        proxy,
        &bus,
        shutdown.clone(),
    );
    let want = src
        .put_manifest(
            "big/img",
            "v1",
            "application/vnd.oci.image.manifest.v1+json",
            manifest,
        )
        .await
        .unwrap();
    eventually("big/img:v1 in b", 240, || async {
        digest_in(&b.host(), "big/img", "v1").await.as_deref() == Some(want.as_str())
    })
    .await;
    assert!(cut.load(Ordering::SeqCst), "the transfer was cut");
    let total = sent.load(Ordering::SeqCst);
    // Restarting would send 400 MiB + 1 GiB; resuming sends about 1 GiB.
    assert!(
        total < GIB + (100 << 20),
        "sent {} MiB: the blob restarted instead of resuming",
        total >> 20
    );
    assert!(total >= GIB, "sent only {} MiB", total >> 20);
    // The upload client resumes a cut transfer within the same attempt
    // (a transient error, retried from the offset the target holds), so
    // the rule records one success and no failed attempt.
    let st = status(&engine, "big");
    assert_eq!(st.failures, 0, "the cut failed the whole attempt: {st:?}");
    assert_eq!(st.last_error, None, "{st:?}");
    assert_eq!(st.replicated, 1, "{st:?}");
    let dst = RegistryClient::new(&b.host(), None).unwrap();
    assert_eq!(
        dst.blob_exists("big/img", &digest).await.unwrap(),
        Some(GIB)
    );
    shutdown.cancel();
    a.stop().await;
    b.stop().await;
}
