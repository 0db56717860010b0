//! Tests of starting and stopping regions on real loopback sockets.

use super::*;
use ferry_core::topology::Topology;

fn topology(api: u16, registry: u16) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:{api}, registry: 127.0.0.1:{registry}, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n"
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

fn config(topology: Topology, dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        topology,
        data_root: dir.to_path_buf(),
        config_dir: dir.to_path_buf(),
        auth_enabled: false,
        known_tokens: BTreeMap::new(),
        kube_targets: None,
    }
}

#[tokio::test]
async fn regions_serve_health_and_metrics_then_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(topology(0, 0), dir.path())).await.unwrap();
    assert_eq!(running.endpoints().len(), 6);
    // One delivery engine for both regions, its data under the first's.
    assert!(dir.path().join("uk/delivery/apps").is_dir());
    assert!(!dir.path().join("shanghai/delivery").exists());
    let uk = running.region("uk").unwrap();
    let health = reqwest::get(format!("http://{}/healthz", uk.api))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{}/metrics", uk.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_build_info{region=\"uk\"} 1"),
        "{metrics}"
    );
    assert!(dir.path().join("uk").is_dir() && dir.path().join("shanghai").is_dir());
    running.shutdown().await;
    assert!(
        reqwest::get(format!("http://{}/healthz", uk.api))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn port_in_use_names_region_and_listener_and_releases_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_port = free.local_addr().unwrap().port();
    drop(free);
    let err = start(config(topology(api_port, port), dir.path()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("region `uk`") && msg.contains("registry listener"),
        "{msg}"
    );
    // The api listener bound before the failure was released again.
    std::net::TcpListener::bind(("127.0.0.1", api_port)).expect("api port released");
}

fn tls_topology() -> Topology {
    let text = "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec:\n  listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}\n  tls: {generate: true}\n  registry: {tls: {generate: true}}\n";
    Topology::from_sources(&[("t.yaml".into(), text.into())]).unwrap()
}

/// No keep-alive: the registry's TLS loop waits for idle connections at
/// shutdown (ferry-registry serve.rs).
fn https_client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn generated_tls_serves_api_and_registry_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(tls_topology(), dir.path())).await.unwrap();
    let api = running.api("uk").unwrap().clone();
    assert!(api.url.starts_with("https://127.0.0.1:"), "{api:?}");
    let ca_file = api.ca_file.clone().unwrap();
    assert_eq!(ca_file, dir.path().join("uk/tls/ca.crt"));
    let ca = std::fs::read(&ca_file).unwrap();
    let client = https_client(&ca);
    let health = client
        .get(format!("{}/healthz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let registry = running.region("uk").unwrap().registry;
    let v2 = client
        .get(format!("https://{registry}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    assert!(
        running
            .endpoints()
            .iter()
            .any(|e| e.listener == "registry" && e.url.starts_with("https://"))
    );
    // Plain HTTP is not served on the TLS port.
    assert!(
        reqwest::get(format!(
            "http://{}/healthz",
            running.region("uk").unwrap().api
        ))
        .await
        .is_err()
    );
    running.shutdown().await;

    // The next start reuses the CA: a client holding the old ca.crt connects.
    let running = start(config(tls_topology(), dir.path())).await.unwrap();
    assert_eq!(std::fs::read(&ca_file).unwrap(), ca);
    let url = &running.api("uk").unwrap().url;
    let health = https_client(&ca)
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    running.shutdown().await;
}

#[tokio::test]
async fn an_exposed_api_without_tls_is_refused_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 0.0.0.0:{port}, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n"
    );
    let topology = Topology::from_sources(&[("t.yaml".into(), text)]).unwrap();
    let mut cfg = config(topology, dir.path());
    cfg.auth_enabled = true;
    let err = start(cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("spec.tls") && err.contains("generate: true"),
        "{err}"
    );
    std::net::TcpListener::bind(("0.0.0.0", port)).expect("nothing was bound");
}

#[tokio::test]
async fn loopback_api_url_is_plain_http_with_no_ca() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(topology(0, 0), dir.path())).await.unwrap();
    let api = running.api("uk").unwrap();
    assert_eq!(
        api.url,
        format!("http://{}", running.region("uk").unwrap().api)
    );
    assert!(api.ca_file.is_none());
    running.shutdown().await;
}

#[tokio::test]
async fn the_api_takes_the_clis_json_mutations_and_refuses_forms() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(topology(0, 0), dir.path())).await.unwrap();
    let api = &running.api("uk").unwrap().url;
    // With the admin token, so what answers is the guard, not the 401.
    let mut auth = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", running.new_admin_tokens()["uk"]);
    auth.insert("authorization", bearer.parse().unwrap());
    let client = reqwest::Client::builder()
        .default_headers(auth)
        .build()
        .unwrap();
    let url = format!("{api}/api/v1/objects/configmaps/default/missing");
    // What `ferry delete` sends: a JSON body `{}`.
    let json = client
        .delete(&url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 404, "{:?}", json.text().await);
    let bare = client.delete(&url).send().await.unwrap();
    assert_eq!(bare.status(), 415);
    let form = client
        .post(format!("{api}/api/v1/apply"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example")
        .body("sources=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    assert!(form.headers().get("access-control-allow-origin").is_none());
    let rebound = client
        .get(format!("{api}/api/v1/objects/pods"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    drop(client);
    running.shutdown().await;
}

/// Every API route, without a token and with the strongest role that is
/// still too weak: each must be refused before it reaches the component
/// (on 4da9006 all of these answered without a token).
#[tokio::test]
async fn every_route_refuses_calls_without_a_token_or_with_too_weak_a_role() {
    use ferry_api::Role::{Admin, Deployer, Viewer};
    use reqwest::Method as M;
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(topology(0, 0), dir.path())).await.unwrap();
    let api = running.region("uk").unwrap().api;
    let admin = running.new_admin_tokens()["uk"].clone();
    let http = reqwest::Client::new();
    let apply = serde_json::json!({"sources": [{"file": "x.yaml", "text":
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n"}]});
    let empty = || Some(serde_json::json!({}));
    // (method, path, body, the weakest role allowed)
    let calls: Vec<(M, &str, Option<serde_json::Value>, ferry_api::Role)> = vec![
        (M::GET, "/api/v1", None, Viewer),
        (M::POST, "/api/v1/apply", Some(apply.clone()), Deployer),
        (M::GET, "/api/v1/api-resources", None, Viewer),
        (M::GET, "/api/v1/endpoints", None, Viewer),
        (M::GET, "/api/v1/objects/secrets", None, Viewer),
        (M::GET, "/api/v1/objects/rolebindings", None, Viewer),
        (M::GET, "/api/v1/objects/configmaps/default/x", None, Viewer),
        (
            M::DELETE,
            "/api/v1/objects/configmaps/default/x",
            empty(),
            Deployer,
        ),
        (M::GET, "/api/v1/events", None, Viewer),
        (
            M::POST,
            "/api/v1/exec/default/p",
            Some(serde_json::json!({"command": ["id"]})),
            Admin,
        ),
        (M::POST, "/api/v1/portforward/default/p/80", empty(), Admin),
        (M::GET, "/api/v1/logs/default/p", None, Viewer),
        (
            M::POST,
            "/api/v1/rollout/default/web/restart",
            empty(),
            Deployer,
        ),
        (
            M::POST,
            "/api/v1/scale/default/web",
            Some(serde_json::json!({"replicas": 3})),
            Deployer,
        ),
        (M::POST, "/api/v1/eviction/default/p", empty(), Deployer),
        (M::POST, "/api/v1/cordon/uk", empty(), Admin),
        (M::POST, "/api/v1/uncordon/uk", empty(), Admin),
        (M::GET, "/api/v1/apps", None, Viewer),
        (M::GET, "/api/v1/apps/x/diff", None, Viewer),
        (M::POST, "/api/v1/apps/x/sync", empty(), Deployer),
        (M::POST, "/api/v1/apps/x/rollback", empty(), Deployer),
        (M::POST, "/api/v1/apps/x/promote", empty(), Deployer),
        (M::GET, "/api/v1/apps/x/rollout", None, Viewer),
        (M::POST, "/api/v1/apps/x/rollout/promote", empty(), Deployer),
        (M::POST, "/api/v1/apps/x/rollout/abort", empty(), Deployer),
        (M::GET, "/api/v1/pipelines/runs", None, Viewer),
        (M::GET, "/api/v1/replication", None, Viewer),
        (M::POST, "/api/v1/replication/reconcile", empty(), Deployer),
        (
            M::PUT,
            "/api/v1/regions/uk/status",
            Some(serde_json::json!({"region": "uk", "intervalSeconds": 2, "apps": {}})),
            Deployer,
        ),
        (M::GET, "/api/v1/routes", None, Viewer),
        (M::GET, "/api/v1/clusters", None, Viewer),
        (M::GET, "/api/v1/clusters/prod", None, Viewer),
        (M::GET, "/api/v1/tokens", None, Admin),
        (
            M::POST,
            "/api/v1/tokens",
            Some(serde_json::json!({"name": "x", "role": "admin"})),
            Admin,
        ),
        (M::DELETE, "/api/v1/tokens/admin", empty(), Admin),
    ];
    let send = |method: &M, path: &str, body: &Option<serde_json::Value>, token: Option<&str>| {
        let mut req = http.request(method.clone(), format!("http://{api}{path}"));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let mint = |role: &'static str| {
        let body = serde_json::json!({"name": role, "role": role});
        let req = http.post(format!("http://{api}/api/v1/tokens"));
        let req = req.bearer_auth(&admin).json(&body);
        async move {
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            v["token"].as_str().unwrap().to_string()
        }
    };
    let (viewer, deployer) = (mint("viewer").await, mint("deployer").await);
    for (method, path, body, needs) in &calls {
        let resp = send(method, path, body, None).await.unwrap();
        assert_eq!(resp.status(), 401, "{method} {path} without a token");
        let weaker = match needs {
            Viewer => None,
            Deployer => Some(&viewer),
            Admin => Some(&deployer),
        };
        if let Some(t) = weaker {
            let resp = send(method, path, body, Some(t)).await.unwrap();
            assert_eq!(
                resp.status(),
                403,
                "{method} {path} with a role below {needs}"
            );
        }
    }
    // The fleet shows every cluster: a namespace-scoped viewer is too weak.
    let body = serde_json::json!({"name": "scoped", "role": "viewer", "namespaces": ["web"]});
    let req = http.post(format!("http://{api}/api/v1/tokens"));
    let v: serde_json::Value = req
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = v["token"].as_str().unwrap().to_string();
    for path in ["/api/v1/clusters", "/api/v1/clusters/prod"] {
        let resp = send(&M::GET, path, &None, Some(&scoped)).await.unwrap();
        assert_eq!(
            resp.status(),
            403,
            "GET {path} with a namespace-scoped viewer"
        );
    }
    // The admin token ferry created reaches them.
    let resp = http
        .post(format!("http://{api}/api/v1/apply"))
        .bearer_auth(&admin)
        .json(&apply)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let known: BTreeMap<String, String> = running.new_admin_tokens().clone();
    assert_eq!(known.len(), 2, "one admin token per region");
    running.shutdown().await;

    // Started again with the tokens the client config holds: none is minted.
    let mut again = config(topology(0, 0), dir.path());
    again.known_tokens = known;
    let running = start(again).await.unwrap();
    assert!(running.new_admin_tokens().is_empty());
    running.shutdown().await;
}

/// `spec.encryptionConfig` (relative to the topology file) seals Secrets in
/// the runtime's store: the value applied through the API is not in
/// state.db's bytes, and reads still return it to an admin.
#[tokio::test]
async fn the_topologys_encryption_config_seals_secrets_at_rest() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    std::fs::write(
        dir.path().join("enc.yaml"),
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox: {{keys: [{{name: k1, secret: {key}}}]}}\n  - identity: {{}}\n"
        ),
    )
    .unwrap();
    let text = "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec:\n  listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}\n  encryptionConfig: enc.yaml\n";
    let topology = Topology::from_sources(&[("t.yaml".into(), text.into())]).unwrap();
    let running = start(config(topology, dir.path())).await.unwrap();
    let api = running.region("uk").unwrap().api;
    let admin = running.new_admin_tokens()["uk"].clone();
    let http = reqwest::Client::new();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: plaintext-hunter2}\n";
    let resp = http
        .post(format!("http://{api}/api/v1/apply"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"sources": [{"file": "s.yaml", "text": secret}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let got: serde_json::Value = http
        .get(format!("http://{api}/api/v1/objects/secrets/default/db"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got.to_string().contains("plaintext-hunter2"), "{got}");
    running.shutdown().await;
    let mut stored = Vec::new();
    for f in ["state.db", "state.db-wal"] {
        stored.extend(std::fs::read(dir.path().join("uk/runtime").join(f)).unwrap_or_default());
    }
    assert!(!stored.is_empty());
    let needle = b"plaintext-hunter2";
    assert!(
        !stored.windows(needle.len()).any(|w| w == needle),
        "the Secret's value is stored in clear"
    );
}

/// The web UI on a TLS API listener: behind its sessions (a page without
/// one is a 303 to login, not the API's 401), a token exchanged for a
/// Secure, HttpOnly, SameSite=Strict cookie, and the guard's Host check
/// still applies to `/ui`.
#[tokio::test]
async fn the_web_ui_is_served_behind_sessions_on_the_api_listener() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(tls_topology(), dir.path())).await.unwrap();
    let api = running.api("uk").unwrap().clone();
    let admin = running.new_admin_tokens()["uk"].clone();
    let ca = std::fs::read(api.ca_file.as_ref().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/ui/apps", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/ui/login?next=%2Fui%2Fapps");
    let login = client
        .post(format!("{}/ui/login", api.url))
        .header("origin", &api.url)
        .form(&[("token", admin.as_str()), ("next", "/ui")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let set = login.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let overview = client
        .get(format!("{}/ui", api.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    assert!(
        html.contains("<h1>Overview</h1>") && html.contains("region uk"),
        "{html}"
    );
    let css = client
        .get(format!("{}/ui/static/ui.css", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let rebound = client
        .get(format!("{}/ui", api.url))
        .header("host", "evil.example")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    drop(client);
    running.shutdown().await;
}
