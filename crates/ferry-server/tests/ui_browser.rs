//! The web UI end to end in headless Debian chromium, driven over the
//! DevTools protocol: a real region (embedded runtime, delivery engine
//! syncing two applications from a git repository), a page without a
//! session sent to login (its token field focused), logging in with the
//! admin token, the keyboard reaching the skip link, the applications list
//! turning Synced live, an application's tree and history, a new commit arriving on the open page
//! without a reload, a rollback by its button, and the list at a phone's
//! width without horizontal scrolling. A screenshot of every page is saved
//! under the test's output directory and checked for content. Then the
//! traffic page: an Ingress applied through the API, requests through the
//! region's gateway, and the page's destination block turning from no data
//! to the gateway's numbers in place (no layout shift, per Chromium's
//! Layout Instability API). Last, a weighted VirtualService applied, then
//! applied again with other weights: the open traffic page shows the new
//! percentages in place, without a reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_core::topology::Topology;
use ferry_test_support::cdp::{Browser, blank_fraction};
use ferry_test_support::{git, git_commit};
use serde_json::{Value, json};

fn manifests(app: &str, greeting: &str) -> Vec<(String, String)> {
    vec![(
        format!("{app}/objects.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {app}}}\ndata: {{greeting: {greeting}}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: {app}}}\nspec: {{selector: {{app: {app}}}, ports: [{{port: 80}}]}}\n"
        ),
    )]
}

fn commit(repo: &Path, greeting: &str) -> String {
    let files: Vec<(String, String)> = ["web", "api"]
        .iter()
        .flat_map(|a| manifests(a, greeting))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    git_commit(repo, &refs, greeting)
}

fn topology(repo: &Path) -> Topology {
    let mut text = String::from(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev, labels: {stage: dev}}\nspec: {region: uk}\n",
    );
    for app in ["web", "api"] {
        text.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: {app}}}\nspec:\n  source: {{repoUrl: '{}', path: {app}}}\n  environments: {{matchLabels: {{stage: dev}}}}\n  syncPolicy: {{automated: true}}\n",
            repo.display()
        ));
    }
    Topology::from_sources(&[("topology.yaml".into(), text)]).unwrap()
}

/// Saves a screenshot as `name` and checks the page is not blank.
fn shot(b: &mut Browser, out: &Path, name: &str) {
    let png = b.screenshot(&out.join(name));
    let (blank, colours) = blank_fraction(&png);
    assert!(
        blank < 0.97 && colours > 4,
        "{name} looks blank: {blank:.3} of pixels are the background, {colours} colours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_see_the_apps_open_one_follow_a_change_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let first = commit(&repo, "hello");
    // The busybox image the pods part runs, in the region's image store.
    let images = ferry_runtime::OciImages::open(dir.path().join("data/uk/runtime/images")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .cmd(["sleep", "3600"])
        .build(&images.store, Some("tools:1"))
        .unwrap();
    let running = ferry_server::start(ferry_server::ServerConfig {
        topology: topology(&repo),
        data_root: dir.path().join("data"),
        config_dir: dir.path().to_path_buf(),
        known_tokens: BTreeMap::new(),
        auth_enabled: false,
        kube_targets: None,
    })
    .await
    .unwrap();
    let url = running.api("uk").unwrap().url.clone();
    let admin = running.new_admin_tokens()["uk"].clone();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui_browser");
    std::fs::create_dir_all(&out).unwrap();
    let gateway = running.region("uk").unwrap().gateway;
    let (work, repo2) = (dir.path().to_path_buf(), repo.clone());
    tokio::task::spawn_blocking(move || {
        let mut b = browse(&work, &out, &url, &admin, &repo2, &first);
        traffic(&mut b, &out, &url, &admin, gateway);
        weights(&mut b, &url, &admin);
        pods(&mut b, &out, &url, &admin);
    })
    .await
    .unwrap();
    running.shutdown().await;
}

fn browse(dir: &Path, out: &Path, url: &str, admin: &str, repo: &Path, first: &str) -> Browser {
    let mut b = Browser::start(dir, 1280, 900);
    b.navigate(&format!("{url}/ui/apps"));
    b.wait_for(
        "the login page",
        "document.readyState === 'complete' && location.pathname + location.search",
        |v| v == "/ui/login?next=%2Fui%2Fapps",
    );
    b.wait_for(
        "the token field focused",
        "document.activeElement.id",
        |v| v == "token",
    );
    shot(&mut b, out, "login.png");
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(admin)
    ));
    b.wait_for("the applications list", "location.pathname", |v| {
        v == "/ui/apps"
    });
    assert!(
        !b.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .contains(admin)
    );
    b.wait_for(
        "both applications Synced, live",
        "[...document.querySelectorAll('#rows tbody tr')].map(r => r.innerText).join('\\n')",
        |v| {
            let t = v.as_str().unwrap_or("");
            t.lines()
                .filter(|l| l.contains("Synced") && l.contains("Healthy"))
                .count()
                == 2
        },
    );
    shot(&mut b, out, "apps.png");
    b.key("Tab", 9);
    let focused = b.eval("document.activeElement.className");
    assert_eq!(focused, "skip", "the first Tab reaches the skip link");
    b.key("Tab", 9);
    let focused = b.eval("document.activeElement.getAttribute('href')");
    assert_eq!(focused, "/ui", "then the navigation");

    b.eval("document.querySelector('a[href^=\"/ui/apps/web\"]').click(); true");
    b.wait_for(
        "the web page",
        "document.querySelector('h1')?.textContent",
        |v| v == "web",
    );
    let tree = b.eval("document.querySelector('ul.tree').innerText");
    let tree = tree.as_str().unwrap();
    assert!(
        tree.contains("ConfigMap") && tree.contains("Service"),
        "{tree}"
    );
    assert!(
        b.eval("document.getElementById('env').innerText")
            .as_str()
            .unwrap()
            .contains(&first[..7])
    );
    shot(&mut b, out, "app.png");

    // A new commit, synced on request through the API: the open page
    // follows without a reload.
    let second = commit(repo, "bonjour");
    b.eval("window.marker = 'not reloaded'; true");
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/apps/web/sync"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    b.wait_for(
        "the new revision on the open page",
        "document.querySelector('#env dl').innerText",
        |v| v.as_str().unwrap_or("").matches(&second[..7]).count() == 2,
    );
    assert_eq!(b.eval("window.marker"), "not reloaded");

    // Roll back to the first sync with its button.
    b.eval("window.confirm = () => true; document.querySelector('form[action=\"/ui/apps/web/rollback\"] button').click(); true");
    b.wait_for(
        "the first revision synced again",
        "document.querySelector('#env dl')?.innerText ?? ''",
        |v| {
            v.as_str()
                .unwrap_or("")
                .contains(&format!("Synced\n{}", &first[..7]))
        },
    );
    let rows = b.eval("document.querySelector('#env table').innerText");
    assert!(rows.as_str().unwrap().contains("rollback"), "{rows}");
    shot(&mut b, out, "app-rolled-back.png");

    // A phone's width: no horizontal scrolling of the page.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    );
    b.navigate(&format!("{url}/ui/apps"));
    b.wait_for(
        "the list on a phone, styled",
        "document.readyState === 'complete' && document.querySelectorAll('#rows tbody tr').length",
        |v| v == 2,
    );
    let wide: Value = b.eval("document.documentElement.scrollWidth");
    let culprits = b.eval("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')");
    assert!(
        wide.as_u64().unwrap() <= 390,
        "the page is {wide} px wide on a 390 px phone: {culprits}"
    );
    shot(&mut b, out, "apps-phone.png");
    b
}

/// The traffic page follows the gateway: an Ingress to a Service without
/// endpoints, so every request through the gateway is a 503, shows as a
/// 0.0 % success rate and a drawn line once the gateway's metrics were
/// sampled (every 10 s) and the page refreshed (as often), without moving
/// anything on the page.
fn traffic(b: &mut Browser, out: &Path, url: &str, admin: &str, gateway: std::net::SocketAddr) {
    let c = reqwest::blocking::Client::new();
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop, namespace: default}\nspec:\n  rules:\n  - host: shop.test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: nowhere, port: {number: 80}}}}\n";
    let resp = c
        .post(format!("{url}/api/v1/apply"))
        .bearer_auth(admin)
        .json(&json!({"sources": [{"file": "ingress.yaml", "text": ingress}]}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    b.call("Emulation.clearDeviceMetricsOverride", json!({}));
    b.navigate(&format!("{url}/ui/traffic"));
    b.wait_for(
        "the Ingress on the traffic page",
        "document.querySelector('#traffic table')?.innerText ?? ''",
        |v| v.as_str().unwrap_or("").contains("shop.test"),
    );
    b.eval(
        "window.shift = 0; window.moved = []; new PerformanceObserver(l => l.getEntries().forEach(e => { window.shift += e.value; e.sources.forEach(s => window.moved.push(s.node?.id || s.node?.className || s.node?.nodeName)); })).observe({type: 'layout-shift'}); true",
    );
    let send = || {
        for _ in 0..20 {
            let r = c
                .get(format!("http://{gateway}/"))
                .header("host", "shop.test")
                .send()
                .unwrap();
            assert_eq!(r.status(), 503);
        }
    };
    let success = "document.querySelector('#traffic .c-success .num')?.textContent";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while b.eval(success) != "0.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "no numbers on the traffic page within 60 s"
        );
        send();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let path = b.eval("document.querySelector('#traffic .c-rate path').getAttribute('d')");
    assert!(path.as_str().unwrap().starts_with('M'), "{path}");
    let moved = b.eval("window.moved.join(', ')");
    assert_eq!(
        b.eval("window.shift"),
        0,
        "the refresh moved the page: {moved}"
    );
    shot(b, out, "traffic.png");
}

/// A VirtualService splitting `api` between two subsets, as `v1`/`v2` %.
fn split(v1: u32, v2: u32) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: api, namespace: default}}\n\
         spec:\n  hosts: [api]\n  http:\n  - route:\n    - {{destination: {{host: api, subset: v1}}, weight: {v1}}}\n\
         \x20   - {{destination: {{host: api, subset: v2}}, weight: {v2}}}\n---\n\
         apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: api, namespace: default}}\n\
         spec:\n  host: api\n  subsets:\n  - {{name: v1, labels: {{version: v1}}}}\n  - {{name: v2, labels: {{version: v2}}}}\n"
    )
}

/// A route's weights change on the open traffic page after an apply: no
/// reload (a marker set on the page survives), the destination blocks'
/// percentages patched by the page's periodic refresh.
fn weights(b: &mut Browser, url: &str, admin: &str) {
    let c = reqwest::blocking::Client::new();
    let apply = |v1: u32, v2: u32| {
        let resp = c
            .post(format!("{url}/api/v1/apply"))
            .bearer_auth(admin)
            .json(&json!({"sources": [{"file": "api.yaml", "text": split(v1, v2)}]}))
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    };
    apply(90, 10);
    b.navigate(&format!("{url}/ui/traffic"));
    let names =
        "[...document.querySelectorAll('#traffic .dest-name')].map(e => e.textContent).join(' | ')";
    b.wait_for("the 90/10 split on the traffic page", names, |v| {
        let t = v.as_str().unwrap_or("");
        t.contains("api.default[v1] 90%") && t.contains("api.default[v2] 10%")
    });
    b.eval("window.sameDocument = true; true");
    apply(50, 50);
    b.wait_for("the 50/50 split without a reload", names, |v| {
        let t = v.as_str().unwrap_or("");
        t.contains("api.default[v1] 50%") && t.contains("api.default[v2] 50%")
    });
    assert_eq!(
        b.eval("window.sameDocument === true"),
        true,
        "the page reloaded"
    );
}

/// A pod's page: its log grows in the open page (the live log stream),
/// and the exec form runs a command and shows its output.
fn pods(b: &mut Browser, out: &Path, url: &str, admin: &str) {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: talker, namespace: default}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: tools:1\n    command: [sh, -c, 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done']\n";
    let c = reqwest::blocking::Client::new();
    let resp = c
        .post(format!("{url}/api/v1/apply"))
        .bearer_auth(admin)
        .json(&json!({"sources": [{"file": "pod.yaml", "text": pod}]}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    ferry_test_support::poll(
        "the pod running",
        std::time::Duration::from_secs(60),
        || {
            let p: Value = c
                .get(format!("{url}/api/v1/objects/pods/default/talker"))
                .bearer_auth(admin)
                .send()
                .ok()?
                .json()
                .ok()?;
            (p["status"]["phase"] == "Running").then_some(())
        },
    );
    b.navigate(&format!("{url}/ui/pods"));
    b.wait_for(
        "the pod listed",
        "document.querySelector('main table')?.innerText ?? ''",
        |v| v.as_str().unwrap_or("").contains("talker"),
    );
    b.navigate(&format!("{url}/ui/pods/default/talker"));
    let lines = "(document.getElementById('log')?.textContent.match(/tick/g) || []).length";
    let first = b.wait_for("the log's tail", lines, |v| v.as_u64() > Some(0));
    let first = first.as_u64().unwrap();
    b.wait_for("the log growing in the open page", lines, |v| {
        v.as_u64() > Some(first + 3)
    });
    b.eval("document.getElementById('command').value = 'echo exec-ok'; document.querySelector('form.exec').submit(); true");
    b.wait_for(
        "the command's output",
        "document.getElementById('exec-out')?.textContent ?? ''",
        |v| v == "exec-ok\n",
    );
    shot(b, out, "pod.png");
}
