//! The delivery pages through the whole router: pipeline runs (stored by a
//! real engine) and a run's live stream, a real registry holding 10,000
//! tags behind a bounded page, a real replication engine whose pending copy
//! shows, the overview's map, each limited to what the token may see.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ferry_api::Role;
use ferry_auth::{Auth, NewToken};
use ferry_delivery::pipeline::{Run, StepState};
use ferry_registry::digest::{Algorithm, Digest};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::routes::router;
use crate::{Ui, UiConfig};

const HOST: &str = "127.0.0.1:7070";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn run(id: u64, pipeline: &str) -> Run {
    let mut r = Run {
        id,
        pipeline: pipeline.into(),
        git_ref: "main".into(),
        commit: format!("{id:07}abcdef"),
        image_tag: format!("main-{id:07}"),
        images: Default::default(),
        state: StepState::Pending,
        started_ms: 1_000_000,
        steps: vec![],
    };
    r.step("checkout", StepState::Succeeded, None, 1_000_400);
    r.step(
        "build team/web",
        StepState::Running,
        Some("uk/team/web:main".into()),
        1_000_500,
    );
    r.step(
        "build team/web",
        StepState::Succeeded,
        Some("pushed sha256:feed".into()),
        1_009_000,
    );
    r.step("healthy dev", StepState::Succeeded, None, 1_030_000);
    r
}

struct World {
    ui: Ui,
    auth: Arc<Auth>,
    registry: ferry_registry::Registry,
    _stop: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::open(dir.path()).unwrap();
        let data = dir.path().join("delivery");
        std::fs::create_dir_all(&data).unwrap();
        let runs = [run(1, "web"), run(2, "api")];
        std::fs::write(data.join("runs.json"), serde_json::to_vec(&runs).unwrap()).unwrap();
        let engine = crate::testdata::engine(&data, &["web", "api"]);
        let topology = crate::pages::delivery_map::tests::topology();
        let events = ferry_core::events::EventBus::new(16);
        let mut metrics = prometheus_client::registry::Registry::default();
        let registry = ferry_registry::Registry::open(
            ferry_registry::Config {
                region: "uk".into(),
                data_dir: dir.path().join("registry"),
                spec: Default::default(),
            },
            events.clone(),
            &mut metrics,
        )
        .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let rules = topology
            .replication_rules
            .iter()
            .filter(|r| r.metadata.name == "uk-to-us");
        let mut cfg = ferry_replication::EngineConfig::new(
            "uk",
            dir.path().join("replication"),
            rules.cloned().collect(),
            [("uk", "127.0.0.1:1"), ("us", "127.0.0.1:1")]
                .map(|(r, a)| (r.to_string(), a.to_string()))
                .into(),
            events.clone(),
            stop.clone(),
        );
        cfg.reconcile_interval = Some(std::time::Duration::from_secs(3600));
        let replication = ferry_replication::Engine::start(cfg, &mut metrics).unwrap();
        let ui = Ui::new(UiConfig {
            region: "uk".into(),
            topology: Arc::new(topology),
            endpoints: Default::default(),
            auth: auth.clone(),
            engine,
            runtime: None,
            sessions: Default::default(),
            registry: Some(registry.clone()),
            replication: Some(replication),
            traffic: None,
            regions: Some(Arc::new(crate::regions::RegionStates::new())),
            events: Some(events),
        })
        .unwrap();
        World {
            ui,
            auth,
            registry,
            _stop: stop.drop_guard(),
            _dir: dir,
        }
    }

    /// A session cookie for a token of `role` limited to `apps` (none: all).
    async fn login(&self, role: Role, apps: &[&str]) -> String {
        let new = NewToken {
            name: format!("{}-for-{}", role.as_str(), apps.join("-"))
                .trim_end_matches("-for-")
                .into(),
            role,
            namespaces: vec![],
            apps: apps.iter().map(|a| a.to_string()).collect(),
            ttl: None,
        };
        let token = self.auth.store().create(new, ferry_auth::now()).unwrap().0;
        let req = Request::post("/ui/login")
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap();
        let resp = router(self.ui.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let set = resp.headers()[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_string()
    }

    async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let req = Request::get(path)
            .header(header::HOST, HOST)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        let resp = router(self.ui.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into())
    }

    /// Stores an image (config, one layer, a signature referring to it) in
    /// `repo` under `tags` tags `t00000`…: the first through the storage
    /// API, the rest as copies of its tag file (what `meta_put` writes,
    /// without 10,000 fsyncs).
    async fn image(&self, repo: &str, tags: usize) -> (Digest, u64) {
        let s = self.registry.storage();
        let config = bytes::Bytes::from_static(b"{}");
        let layer = bytes::Bytes::from(vec![7u8; 5000]);
        let (cd, ld) = (
            Digest::of(Algorithm::Sha256, &config),
            Digest::of(Algorithm::Sha256, &layer),
        );
        s.blob_write(&cd, config).await.unwrap();
        s.blob_write(&ld, layer).await.unwrap();
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": 5000}]});
        let body = bytes::Bytes::from(serde_json::to_vec(&manifest).unwrap());
        let md = Digest::of(Algorithm::Sha256, &body);
        let total = 2 + 5000 + body.len() as u64;
        s.blob_write(&md, body).await.unwrap();
        let key = |rest: &str| format!("{repo}/{rest}");
        s.meta_put(
            &key(&format!("_manifests/revisions/sha256/{}", md.hex())),
            OCI_MANIFEST.as_bytes(),
        )
        .await
        .unwrap();
        let referrer = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "5".repeat(64)),
            "size": 777, "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"});
        let rkey = format!("_referrers/sha256/{}/sha256-{}", md.hex(), "5".repeat(64));
        s.meta_put(&key(&rkey), referrer.to_string().as_bytes())
            .await
            .unwrap();
        s.meta_put(&key("_manifests/tags/t00000"), md.to_string().as_bytes())
            .await
            .unwrap();
        let dir = self
            ._dir
            .path()
            .join("registry/store/repositories")
            .join(repo)
            .join("_manifests/tags");
        for i in 1..tags {
            std::fs::copy(dir.join("t00000"), dir.join(format!("t{i:05}"))).unwrap();
        }
        (md, total)
    }
}

#[tokio::test]
async fn pipelines_show_the_runs_the_token_reaches_with_their_steps() {
    let w = World::new().await;
    let all = w.login(Role::Viewer, &[]).await;
    let (status, page) = w.get("/ui/pipelines", &all).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<a href=\"/ui/pipelines\" aria-current=\"page\">Pipelines</a>"));
    assert!(
        page.contains(">#1</a>") && page.contains(">#2</a>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"num\">30.0 s</td>"),
        "commit to serving: {page}"
    );
    assert!(page.contains("data-live=\"/ui/events?view=pipelines"));
    let (_, page) = w.get("/ui/pipelines?pipeline=api", &all).await;
    assert!(page.contains(">#2</a>") && !page.contains(">#1</a>"));

    let web_only = w.login(Role::Viewer, &["web"]).await;
    let (_, page) = w.get("/ui/pipelines", &web_only).await;
    assert!(
        page.contains(">#1</a>") && !page.contains(">#2</a>"),
        "{page}"
    );
    let (status, page) = w.get("/ui/pipelines/runs/1", &web_only).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Running: uk/team/web:main"),
        "the build's log: {page}"
    );
    assert!(page.contains("Succeeded: pushed sha256:feed"));
    let (status, _) = w.get("/ui/pipelines/runs/2", &web_only).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "api's run is out of reach");
}

#[tokio::test]
async fn a_runs_stream_sends_its_steps_and_logs_when_the_engine_changes() {
    let w = World::new().await;
    w.ui.start(tokio_util::sync::CancellationToken::new());
    let cookie = w.login(Role::Viewer, &[]).await;
    let req = Request::get("/ui/events?view=run&run=1")
        .header(header::HOST, HOST)
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let resp = router(w.ui.clone()).oneshot(req).await.unwrap();
    let mut body = resp.into_body();
    w.ui.cfg().engine.sync_now("web", None).unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).to_string();
    assert!(text.starts_with("event: patch"), "{text}");
    assert!(text.contains(r#""id":"run""#), "{text}");
    assert!(text.contains("Succeeded: pushed sha256:feed"), "{text}");
}

#[tokio::test]
async fn ten_thousand_tags_make_a_bounded_page_with_sizes_referrers_and_regions() {
    let w = World::new().await;
    let (digest, size) = w.image("team/web", 10_000).await;
    w.image("team/other", 1).await;
    let replication = w.ui.cfg().replication.clone().unwrap();
    let task = ferry_replication::queue::Task::new(
        "uk-to-us",
        "team/web",
        "t00001",
        ferry_replication::queue::Op::Copy,
    );
    replication.enqueue(task).unwrap();
    let admin = w.login(Role::Admin, &[]).await;
    let (status, page) = w.get("/ui/registry", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(">team/web</a>") && page.contains(">team/other</a>"),
        "{page}"
    );
    let (status, page) = w
        .get("/ui/registry/repo?name=team%2Fweb&page=1", &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.len() < 200_000, "{} bytes", page.len());
    assert!(
        page.contains("10000 tags") && page.contains("page 1 of 200"),
        "{page}"
    );
    assert_eq!(page.matches("<th scope=\"row\">").count(), 50);
    assert!(page.contains(&digest.to_string()));
    let size = crate::pages::registry::bytes(size);
    assert!(
        page.contains(&format!(">{size}</td>")),
        "config, layer and manifest: {size}"
    );
    assert!(page.contains("application/vnd.dev.sigstore.bundle.v0.3+json"));
    let row = page.split("<th scope=\"row\">t00001</th>").nth(1).unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert!(
        row.contains("uk <span class=\"badge b-held\">held</span>"),
        "{row}"
    );
    assert!(
        row.contains("us <span class=\"badge b-pending\">pending</span>"),
        "{row}"
    );
    let (_, last) = w
        .get("/ui/registry/repo?name=team%2Fweb&page=200", &admin)
        .await;
    assert!(last.contains("<th scope=\"row\">t09999</th>") && !last.contains(">Next<"));

    let web_only = w.login(Role::Viewer, &["web"]).await;
    let (_, page) = w.get("/ui/registry", &web_only).await;
    assert!(
        page.contains(">team/web</a>") && !page.contains("team/other"),
        "{page}"
    );
    let (status, _) = w
        .get("/ui/registry/repo?name=team%2Fother", &web_only)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = w.get("/ui/registry/repo?name=team%2Fweb", &web_only).await;
    assert!(
        !page.contains("b-pending"),
        "replication state needs an unscoped token"
    );
}

#[tokio::test]
async fn the_overview_maps_the_viewers_delivery_paths() {
    let w = World::new().await;
    let all = w.login(Role::Viewer, &[]).await;
    let (_, page) = w.get("/ui", &all).await;
    assert!(page.contains("<section id=\"delivery-map\">"), "{page}");
    assert!(
        page.contains("<li>uk (up) replicates by rule uk-to-us ("),
        "this region up, its rule's state: {page}"
    );
    assert!(page.contains("builds web, api"));
    let api_only = w.login(Role::Viewer, &["api"]).await;
    let (_, page) = w.get("/ui", &api_only).await;
    assert!(page.contains("builds api (up)<"), "{page}");
}

#[path = "delivery_overview_tests.rs"]
mod overview;
