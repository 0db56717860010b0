//! Shared helpers of the registry's integration tests: an in-process
//! registry on a loopback port, small builders for blobs and manifests, and
//! a test CA with a server certificate for 127.0.0.1.
#![allow(dead_code)]

use std::sync::Arc;

use ferry_core::events::EventBus;
use ferry_core::registry_spec::{RegistrySpec, RegistryTls};
use ferry_registry::{Config, Registry};
use ferry_test_support::TempDir;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// A registry serving on `127.0.0.1:<port>` until dropped.
pub struct TestRegistry {
    pub url: String,
    pub host: String,
    pub dir: TempDir,
    pub registry: Registry,
    pub events: EventBus,
    pub metrics: Arc<std::sync::Mutex<prometheus_client::registry::Registry>>,
    shutdown: CancellationToken,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn start() -> TestRegistry {
    start_with(RegistrySpec::default()).await
}

pub async fn start_with(spec: RegistrySpec) -> TestRegistry {
    start_with_limits(spec, ferry_registry::ListenerLimits::default()).await
}

/// A registry serving `spec` under the listener `limits`.
pub async fn start_with_limits(
    spec: RegistrySpec,
    limits: ferry_registry::ListenerLimits,
) -> TestRegistry {
    let dir = ferry_test_support::temp_dir();
    let data_dir = dir.path().join("registry");
    start_at(spec, limits, dir, data_dir).await
}

/// A registry keeping its data in `data_dir` (a small filesystem, say).
pub async fn start_in(data_dir: std::path::PathBuf) -> TestRegistry {
    let dir = ferry_test_support::temp_dir();
    let limits = ferry_registry::ListenerLimits::default();
    start_at(RegistrySpec::default(), limits, dir, data_dir).await
}

async fn start_at(
    spec: RegistrySpec,
    limits: ferry_registry::ListenerLimits,
    dir: TempDir,
    data_dir: std::path::PathBuf,
) -> TestRegistry {
    let events = EventBus::default();
    let mut metrics = prometheus_client::registry::Registry::with_prefix("ferry");
    let config = Config {
        region: "uk".into(),
        data_dir,
        spec,
    };
    let registry =
        Registry::open(config.clone(), events.clone(), &mut metrics).expect("open registry");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(
        registry
            .serve_with_limits(&config, listener, limits, shutdown.clone())
            .expect("serve"),
    );
    TestRegistry {
        url: format!("http://{addr}"),
        host: addr.to_string(),
        dir,
        registry,
        events,
        metrics: Arc::new(std::sync::Mutex::new(metrics)),
        shutdown,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Uploads `data` with a single POST `?digest=`; returns its digest.
pub async fn push_blob(url: &str, repo: &str, data: &[u8]) -> String {
    let digest = sha256(data);
    let r = client()
        .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "push blob: {}", r.text().await.unwrap());
    digest
}

/// An image manifest over `config` and `layers` (digest, size) pairs.
pub fn image_manifest(
    config: (&str, usize),
    layers: &[(&str, usize)],
    extra: serde_json::Value,
) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s
        })).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            m[k] = v;
        }
    }
    serde_json::to_vec(&m).unwrap()
}

/// Pushes a small image (config + one layer) under `tag`; returns the
/// manifest's digest and bytes.
pub async fn push_image(url: &str, repo: &str, tag: &str, seed: u64) -> (String, Vec<u8>) {
    let config = format!("{{\"seed\":{seed}}}").into_bytes();
    let layer = bytes(1000 + seed as usize % 500, seed);
    let c = push_blob(url, repo, &config).await;
    let l = push_blob(url, repo, &layer).await;
    let m = image_manifest(
        (&c, config.len()),
        &[(&l, layer.len())],
        serde_json::json!({}),
    );
    let d = put_manifest(url, repo, tag, &m, OCI_MANIFEST).await;
    (d, m)
}

pub async fn put_manifest(
    url: &str,
    repo: &str,
    reference: &str,
    body: &[u8],
    media_type: &str,
) -> String {
    let r = client()
        .put(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "put manifest: {}", r.text().await.unwrap());
    r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The `code` of the first error of an OCI error body.
pub async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.expect("error body is JSON");
    v["errors"][0]["code"]
        .as_str()
        .expect("errors[0].code")
        .to_string()
}

/// Polls `url` until it answers 2xx, panicking after `secs` seconds.
pub async fn wait_ok(url: &str, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let c = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    loop {
        if c.get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Writes `ca/ca.crt` (the CA skopeo trusts), `server.crt` and `server.key`.
pub fn make_certs(dir: &std::path::Path) -> RegistryTls {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ferry test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::create_dir_all(dir.join("ca")).unwrap();
    std::fs::write(dir.join("ca/ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    RegistryTls {
        cert_file: dir.join("server.crt"),
        key_file: dir.join("server.key"),
        ..Default::default()
    }
}

/// The upload's size once the cut request has been fully processed (the
/// size stops changing between two status calls).
pub async fn settled_upload_size(c: &reqwest::Client, url: &str) -> u64 {
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
