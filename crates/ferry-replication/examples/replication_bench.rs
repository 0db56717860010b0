//! Benchmark (run by `bench/replication.sh`): replication of a 1 GiB image
//! (four 256 MiB layers) from region A to region B on loopback, against a
//! plain HTTP copy of the same bytes with curl (`curl GET A | curl PUT B`,
//! the four layers in parallel, as the engine copies them), then the time
//! from "push completed in A" to "pullable in B" for small images.
//! Registries are ferry's own, in-process, as `ferry up` runs them.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_core::events::{Event, EventBus};
use ferry_core::replication_spec::{ReplicationEndpoint, ReplicationRule, ReplicationRuleSpec};
use ferry_image::RegistryClient;
use ferry_image::client::{FileSource, UploadOptions};
use ferry_replication::{Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

const LAYER: u64 = 256 << 20;

async fn registry(
    region: &str,
    dir: &Path,
    events: &EventBus,
    shutdown: &CancellationToken,
) -> SocketAddr {
    let config = ferry_registry::Config {
        region: region.into(),
        data_dir: dir.join(region),
        spec: Default::default(),
    };
    let mut metrics = prometheus_client::registry::Registry::default();
    let reg = ferry_registry::Registry::open(config.clone(), events.clone(), &mut metrics)
        .expect("open registry");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        reg.serve_on(&config, listener, shutdown.clone())
            .expect("serve"),
    );
    addr
}

fn write_layer(path: &Path, seed: u64) -> String {
    use sha2::Digest as _;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create layer"));
    let mut h = sha2::Sha256::new();
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..(LAYER >> 20) {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
        f.write_all(&buf).expect("write layer");
    }
    f.flush().expect("flush");
    format!("sha256:{}", hex::encode(h.finalize()))
}

async fn push_manifest(
    client: &RegistryClient,
    repo: &str,
    tag: &str,
    layers: &[(String, u64)],
    dir: &Path,
) -> String {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Labels":{{"tag":"{tag}"}}}}}}"#
    );
    let cfg_digest = ferry_image::digest::sha256(config.as_bytes());
    let cfg_path = dir.join(format!("config-{tag}.json"));
    std::fs::write(&cfg_path, &config).expect("config");
    client
        .upload_blob(
            repo,
            &cfg_digest,
            config.len() as u64,
            &FileSource(cfg_path),
            &UploadOptions::default(),
        )
        .await
        .expect("config blob");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": config.len()},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    });
    client
        .put_manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&manifest).expect("json").into(),
        )
        .await
        .expect("manifest")
}

fn rule(target: &str) -> ReplicationRule {
    ReplicationRule {
        api_version: ferry_core::API_VERSION.into(),
        kind: "ReplicationRule".into(),
        metadata: ferry_core::ObjectMeta {
            name: "a-to-b".into(),
            ..Default::default()
        },
        spec: ReplicationRuleSpec {
            source: ReplicationEndpoint {
                region: Some("a".into()),
                ..Default::default()
            },
            target: ReplicationEndpoint {
                region: Some(target.into()),
                ..Default::default()
            },
            repositories: vec![],
            tags: Default::default(),
            deletes: false,
            reconcile_interval_seconds: Some(3600),
            mode: Default::default(),
            bandwidth: None,
        },
    }
}

async fn wait_replicated(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<Event>>,
    tag: &str,
) {
    loop {
        let e = rx.recv().await.expect("event bus");
        if let Event::ImageReplicated { tag: Some(t), .. } = &*e
            && t == tag
        {
            return;
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let base = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("ferry-repl-bench-")
        .tempdir_in(base)
        .expect("temp dir");
    let shutdown = CancellationToken::new();
    let bus = EventBus::default();
    let a = registry("a", dir.path(), &bus, &shutdown).await;
    let b_curl = registry("bcurl", dir.path(), &EventBus::default(), &shutdown).await;
    let b = registry("b", dir.path(), &EventBus::default(), &shutdown).await;
    let src = RegistryClient::new(&a.to_string(), None).expect("client");

    eprintln!("preparing a 1 GiB image (4 x 256 MiB layers) in region a ...");
    let mut layers = Vec::new();
    for i in 0..4u64 {
        let p = dir.path().join(format!("layer{i}"));
        let d = write_layer(&p, 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1));
        src.upload_blob(
            "bench/big",
            &d,
            LAYER,
            &FileSource(p.clone()),
            &UploadOptions::default(),
        )
        .await
        .expect("layer");
        std::fs::remove_file(&p).ok();
        layers.push((d, LAYER));
    }

    // Baseline: curl GET from a piped into curl PUT to b, layers in parallel.
    let dst_curl = RegistryClient::new(&b_curl.to_string(), None).expect("client");
    let mut cmds = Vec::new();
    for (d, _) in &layers {
        let session = dst_curl.start_upload("bench/big").await.expect("upload");
        let sep = if session.location.contains('?') {
            '&'
        } else {
            '?'
        };
        cmds.push(format!(
            "curl -sf http://{a}/v2/bench/big/blobs/{d} | curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T - '{}{sep}digest={d}'",
            session.location
        ));
    }
    let t = Instant::now();
    let children: Vec<_> = cmds
        .iter()
        .map(|c| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(c)
                .spawn()
                .expect("curl")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("curl").success(), "curl copy failed");
    }
    let curl = t.elapsed();
    for (d, s) in &layers {
        assert_eq!(
            dst_curl.blob_exists("bench/big", d).await.expect("head"),
            Some(*s),
            "curl copy incomplete"
        );
    }

    // ferry: the engine copies a→b when the manifest is pushed.
    let registries = BTreeMap::from([
        ("a".to_string(), a.to_string()),
        ("b".to_string(), b.to_string()),
    ]);
    let mut cfg = EngineConfig::new(
        "a",
        dir.path().join("state"),
        vec![rule("b")],
        registries,
        bus.clone(),
        shutdown.clone(),
    );
    cfg.reconcile_interval = Some(Duration::from_secs(3600));
    let mut metrics = prometheus_client::registry::Registry::default();
    let engine = Engine::start(cfg, &mut metrics).expect("engine");
    tokio::time::sleep(Duration::from_millis(300)).await; // let the start-up reconcile pass finish (nothing tagged yet)
    let mut rx = bus.subscribe();
    let t = Instant::now();
    push_manifest(&src, "bench/big", "v1", &layers, dir.path()).await;
    wait_replicated(&mut rx, "v1").await;
    let ferry = t.elapsed();
    let dst = RegistryClient::new(&b.to_string(), None).expect("client");
    assert!(
        dst.head_manifest("bench/big", "v1")
            .await
            .expect("head")
            .is_some()
    );

    println!("== replication of a 1 GiB image (4 layers) a -> b on loopback ==");
    println!(
        "plain HTTP copy (curl | curl, parallel): {:.2} s ({:.0} MiB/s)",
        curl.as_secs_f64(),
        1024.0 / curl.as_secs_f64()
    );
    println!(
        "ferry replication (event to replicated): {:.2} s ({:.0} MiB/s)",
        ferry.as_secs_f64(),
        1024.0 / ferry.as_secs_f64()
    );
    println!(
        "ratio ferry/curl: {:.2}x (target <= 1.3x)",
        ferry.as_secs_f64() / curl.as_secs_f64()
    );

    // Small images: push completed in a -> pullable (manifest HEAD 200) in b.
    let mut samples = Vec::new();
    for i in 0..30 {
        let tag = format!("s{i}");
        let content = format!("small image {i}");
        let blob = dir.path().join(format!("small{i}"));
        std::fs::write(&blob, &content).expect("small");
        let d = ferry_image::digest::sha256(content.as_bytes());
        src.upload_blob(
            "bench/small",
            &d,
            content.len() as u64,
            &FileSource(blob),
            &UploadOptions::default(),
        )
        .await
        .expect("small blob");
        push_manifest(
            &src,
            "bench/small",
            &tag,
            &[(d, content.len() as u64)],
            dir.path(),
        )
        .await;
        let t = Instant::now();
        loop {
            if dst
                .head_manifest("bench/small", &tag)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "== small image: push completed in a -> pullable in b ({} images) ==",
        samples.len()
    );
    println!(
        "median {:.1} ms, p90 {:.1} ms, max {:.1} ms (target < 500 ms)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    );
    let s = engine.status();
    println!(
        "engine: replicated {} images, {} MiB, {} failures",
        s[0].replicated,
        s[0].bytes >> 20,
        s[0].failures
    );
    shutdown.cancel();
}
