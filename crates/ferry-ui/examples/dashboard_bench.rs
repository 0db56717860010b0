//! The dashboard's figures of issue #23 at N synthetic applications in two
//! regions (`dashboard_bench N`; bench/dashboard.sh runs it): the UI's
//! real router served on 127.0.0.1 over a delivery engine (not started)
//! whose statuses are `testdata::many(N)` (dev in region uk, prod in us),
//! then measured from outside as a browser sees it:
//!
//! - the applications list's first page, rendered by the server (HTTP
//!   request to last byte, median of 21) and its size, and the largest
//!   HTML of the other pages;
//! - first contentful paint in headless Chromium (DevTools), from
//!   navigation start, median of 7 loads;
//! - what one open tab (its page and live stream) adds to the serving
//!   process's RSS: RSS with the tab on `about:blank`, then on the list
//!   with its stream open, three times;
//! - an SSE update's delay: a status changed in the engine until the
//!   page's patch is applied (`data-updated`), median of 7.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferry_api::Role;
use ferry_delivery::health::Health;
use ferry_test_support::cdp::Browser;
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn topology(n: usize) -> ferry_core::topology::Topology {
    let mut yaml = String::new();
    for (region, env) in [("uk", "dev"), ("us", "prod")] {
        yaml.push_str(&format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: {region}}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n---\n\
             apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {env}}}\nspec: {{region: {region}}}\n---\n"
        ));
    }
    let mut sources = vec![("regions.yaml".to_string(), yaml)];
    // One file per 1,000 applications (the YAML reader's document budget).
    for i in 0..n {
        if i % 1000 == 0 {
            sources.push((format!("apps-{i}.yaml"), String::new()));
        }
        let file = &mut sources.last_mut().unwrap().1;
        file.push_str(&format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: app-{i:05}}}\nspec: {{source: {{repoUrl: 'https://git.example/o/app-{i:05}.git'}}}}\n---\n"
        ));
    }
    ferry_core::topology::Topology::from_sources(&sources).unwrap()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let topo = Arc::new(topology(n));
    let auth = ferry_auth::Auth::open(dir.path()).unwrap();
    let token = auth
        .store()
        .create(
            ferry_auth::NewToken {
                name: "bench".into(),
                role: Role::Admin,
                namespaces: vec![],
                apps: vec![],
                ttl: None,
            },
            ferry_auth::now(),
        )
        .unwrap()
        .0;
    let (engine, addr) = rt.block_on(async {
        let engine = ferry_delivery::Engine::new(
            ferry_delivery::EngineConfig::new(dir.path().join("delivery")),
            topo.clone(),
            Default::default(),
            Arc::new(ferry_delivery::images::AnyImage),
        )
        .unwrap();
        for s in ferry_ui::testdata::many(n) {
            engine.put_status(s);
        }
        let ui = ferry_ui::Ui::new(ferry_ui::UiConfig {
            region: "uk".into(),
            topology: topo,
            endpoints: Default::default(),
            auth,
            engine: engine.clone(),
            runtime: None,
            sessions: Default::default(),
            registry: None,
            replication: None,
            traffic: None,
            regions: None,
            events: None,
        })
        .unwrap();
        ui.start(tokio_util::sync::CancellationToken::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, ferry_ui::router(ui)).await });
        (engine, addr)
    });
    let url = format!("http://{addr}");
    let (cookie, sizes) = server_side(&url, &token, n);
    let _ = cookie;
    browser_side(dir.path(), &url, &token, &engine, n);
    println!("{n} apps, largest page: {sizes}");
    drop(rt);
}

/// Server render time of the list's first page and the pages' sizes.
fn server_side(url: &str, token: &str, n: usize) -> (String, String) {
    let c = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = c
        .post(format!("{url}/ui/login"))
        .header("origin", url)
        .form(&[("token", token), ("next", "/ui/apps")])
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let get = |path: &str| {
        let t = Instant::now();
        let r = c
            .get(format!("{url}{path}"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().unwrap();
        (t.elapsed().as_secs_f64() * 1e3, body.len())
    };
    let mut times = vec![];
    let mut list_bytes = 0;
    for _ in 0..21 {
        let (ms, bytes) = get("/ui/apps");
        times.push(ms);
        list_bytes = bytes;
    }
    println!(
        "{n} apps x 2 regions, /ui/apps first page by the server: {:.2} ms median of 21 (HTTP to last byte), {list_bytes} bytes",
        median(times)
    );
    let pages = [
        "/ui",
        "/ui/apps?page=40",
        "/ui/apps/app-00007",
        "/ui/serverless",
        "/ui/traffic",
        "/ui/pods",
    ];
    let mut largest = ("/ui/apps".to_string(), list_bytes);
    for p in pages {
        let (_, bytes) = get(p);
        if bytes > largest.1 {
            largest = (p.to_string(), bytes);
        }
    }
    (cookie, format!("{} {} bytes", largest.0, largest.1))
}

fn browser_side(
    dir: &std::path::Path,
    url: &str,
    token: &str,
    engine: &ferry_delivery::Engine,
    n: usize,
) {
    let mut b = Browser::start(dir, 1280, 900);
    b.navigate(&format!("{url}/ui/login?next=%2Fui%2Fapps"));
    b.wait_for(
        "the login page",
        "document.readyState === 'complete' && !!document.getElementById('token')",
        |v| v == true,
    );
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(token)
    ));
    b.wait_for("the list", "location.pathname", |v| v == "/ui/apps");
    let fcp_expr = "document.readyState === 'complete' && (performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? false)";
    let mut fcp = vec![];
    for _ in 0..7 {
        b.navigate(&format!("{url}/ui/apps"));
        let v = b.wait_for("first contentful paint", fcp_expr, |v| v.is_number());
        fcp.push(v.as_f64().unwrap());
    }
    println!(
        "{n} apps, /ui/apps first contentful paint in Chromium: {:.0} ms median of 7 (navigation start to FCP)",
        median(fcp)
    );

    let live = "document.getElementById('live')?.textContent === 'live'";
    let mut added = vec![];
    for _ in 0..3 {
        b.navigate("about:blank");
        std::thread::sleep(Duration::from_secs(1));
        let closed = rss_kib();
        b.navigate(&format!("{url}/ui/apps"));
        b.wait_for("the live stream open", live, |v| v == true);
        std::thread::sleep(Duration::from_secs(1));
        added.push(rss_kib() as f64 - closed as f64);
    }
    println!(
        "{n} apps, one open tab (page + live stream) adds {:.0} KiB to the server's RSS (median of 3; each: {added:?} KiB; RSS now {} KiB)",
        median(added.clone()),
        rss_kib()
    );

    let mut delays = vec![];
    for round in 0..7 {
        let before = b
            .eval("Number(document.body.getAttribute('data-updated') || 0)")
            .as_f64()
            .unwrap_or(0.0);
        let health = if round % 2 == 0 {
            Health::Degraded
        } else {
            Health::Healthy
        };
        let t0 = now_ms();
        engine.put_status(ferry_ui::testdata::app(
            "app-00001",
            &[("dev", "uk"), ("prod", "us")],
            health,
        ));
        let v = b.wait_for(
            "the patch applied",
            "Number(document.body.getAttribute('data-updated') || 0)",
            |v| v.as_f64().unwrap_or(0.0) > before,
        );
        delays.push(v.as_f64().unwrap() - t0);
    }
    println!(
        "{n} apps, an SSE update reaches the open list: {:.0} ms median of 7 (status changed → patch applied)",
        median(delays)
    );
}
