//! Pushing a built image to a registry (ferry's own, in-process on a
//! loopback port) and reading it back with skopeo; a failing build pushes
//! nothing.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use ferry_build::{BuildOptions, Error};
use ferry_core::events::EventBus;
use ferry_core::registry_spec::RegistrySpec;
use ferry_image::Store;
use ferry_image::build::busybox;
use ferry_registry::{Config, Registry};
use tokio_util::sync::CancellationToken;

struct Serving {
    host: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn registry() -> Serving {
    let dir = tempfile::tempdir().unwrap();
    let mut metrics = prometheus_client::registry::Registry::default();
    let config = Config {
        region: "uk".into(),
        data_dir: dir.path().join("registry"),
        spec: RegistrySpec::default(),
    };
    let registry = Registry::open(config.clone(), EventBus::default(), &mut metrics).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    tokio::spawn(
        registry
            .serve_on(&config, listener, shutdown.clone())
            .unwrap(),
    );
    Serving {
        host,
        shutdown,
        _dir: dir,
    }
}

fn fixture(dockerfile: &str) -> (tempfile::TempDir, BuildOptions) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let cache = tmp.path().join("cache");
    let store = Store::open(cache.join("store")).unwrap();
    busybox::busybox_image()
        .unwrap()
        .build(&store, Some("ferry.test/busybox:1"))
        .unwrap();
    let opts = BuildOptions {
        context: ctx,
        dockerfile: None,
        build_args: BTreeMap::new(),
        target: None,
        cache_dir: cache,
        no_cache: false,
        allow: Default::default(),
    };
    (tmp, opts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_image_is_pushed_and_readable_by_skopeo() {
    let reg = registry().await;
    let (_tmp, opts) =
        fixture("FROM ferry.test/busybox:1\nRUN echo pushed > /msg\nCMD [\"cat\", \"/msg\"]\n");
    let tag = format!("{}/team/app:v1", reg.host);
    let built = ferry_build::output::build_and_push(opts, vec![tag.clone()], Arc::new(|_| {}))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{tag}"),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        built.manifest_bytes.to_vec(),
        "the registry serves the manifest byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_build_pushes_nothing() {
    let reg = registry().await;
    let (_tmp, opts) = fixture("FROM ferry.test/busybox:1\nRUN echo nope; exit 7\n");
    let tag = format!("{}/team/broken:v1", reg.host);
    let err = ferry_build::output::build_and_push(opts, vec![tag], Arc::new(|_| {}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RunFailed { code: 7, .. }), "{err}");
    let url = format!("http://{}/v2/team/broken/tags/list", reg.host);
    let status = reqwest::get(&url).await.unwrap().status();
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "no repository was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_pulls_the_base_image_from_a_registry() {
    let reg = registry().await;
    let tmp = tempfile::tempdir().unwrap();
    let seed = Store::open(tmp.path().join("seed")).unwrap();
    busybox::busybox_image()
        .unwrap()
        .build(&seed, Some("busybox:1"))
        .unwrap();
    let base = format!("{}/base/busybox:1", reg.host);
    let target = ferry_image::ImageRef::parse(&base).unwrap();
    let client = ferry_image::RegistryClient::new(&target.registry, None).unwrap();
    ferry_image::push(&client, &seed, "busybox:1", &target, &Default::default())
        .await
        .unwrap();

    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN echo pulled > /p\n"),
    )
    .unwrap();
    let opts = BuildOptions {
        context: ctx,
        dockerfile: None,
        build_args: BTreeMap::new(),
        target: None,
        cache_dir: tmp.path().join("cache"),
        no_cache: false,
        allow: Default::default(),
    };
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let ev = events.clone();
    let built = tokio::task::spawn_blocking(move || {
        ferry_build::build(&opts, &|e| ev.lock().unwrap().push(e))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ferry_build::Event::Pulling(r) if r == &base))
    );
    let m: ferry_image::oci::ImageManifest = serde_json::from_slice(&built.manifest_bytes).unwrap();
    assert_eq!(
        m.layers().len(),
        2,
        "the pulled busybox layer plus the RUN layer"
    );
}
