//! The delivery pages end to end in headless Debian chromium over the
//! DevTools protocol: a real region whose pipeline deploys `master` to
//! `dev` behind a manual approval. The pipelines page shows the run live;
//! on the run's page the gate's log says it waits, and after an approval
//! by the application page's Promote button (a second window) the gate's
//! next log line and the sync and healthy steps
//! appear without a reload, with the commit-to-serving time; the
//! application's diff page then finds live matching desired at that
//! commit (the engine's fresh dry-run comparison), and after an edit by
//! hand shows it as `-` the live value, `+` git's. The registry
//! browser shows an image pushed over the registry's HTTP API with its
//! digest and the copy its replication rule has pending; the overview maps
//! uk (up) → the rule's target (its copy pending) → dev in SVG. Screenshots
//! are saved under the
//! test's output directory and checked for content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_core::topology::Topology;
use ferry_registry::digest::{Algorithm, Digest};
use ferry_test_support::cdp::{Browser, blank_fraction};
use ferry_test_support::{git, git_commit, poll};
use serde_json::json;

fn topology(repo: &Path) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec: {{listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: uk-to-mirror}}\nspec: {{source: {{region: uk}}, target: {{url: 'http://127.0.0.1:9'}}}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{}', path: web}}\n  syncPolicy: {{automated: true}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}\nspec:\n  application: web\n  buildRegion: uk\n  rules:\n  - {{branch: master, imageTag: 'm-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}, manualApproval: true}}\n",
        repo.display()
    );
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

/// Pushes `repo:tag` (a config and one layer) over the registry's HTTP API.
fn push(registry: &str, repo: &str, tag: &str) -> String {
    let c = reqwest::blocking::Client::new();
    let blob = |bytes: Vec<u8>| {
        let d = Digest::of(Algorithm::Sha256, &bytes);
        let r = c
            .post(format!("{registry}/v2/{repo}/blobs/uploads/"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with('/') {
            format!("{registry}{loc}")
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = c
            .put(format!("{loc}{sep}digest={d}"))
            .body(bytes.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text());
        (d, bytes.len())
    };
    let (cd, cn) = blob(b"{\"architecture\":\"amd64\",\"os\":\"linux\"}".to_vec());
    let (ld, ln) = blob(vec![42u8; 20_000]);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": ln}]});
    let body = serde_json::to_vec(&manifest).unwrap();
    let r = c
        .put(format!("{registry}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text());
    Digest::of(Algorithm::Sha256, &body).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_at_its_gate_then_serves_live_and_the_registry_and_map_show() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: hello}\n";
    let commit = git_commit(&repo, &[("web/objects.yaml", cm)], "first");
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
    let registry = format!("http://{}", running.region("uk").unwrap().registry);
    let admin = running.new_admin_tokens()["uk"].clone();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui_browser_delivery");
    std::fs::create_dir_all(&out).unwrap();
    let work = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let digest = push(&registry, "team/web", "v1");
        let mut b = Browser::start(&work, 1280, 900);
        log_in(&mut b, &url, &admin);
        pipelines(&mut b, &out, &url, &admin, &commit);
        registry_and_map(&mut b, &out, &url, &digest);
    })
    .await
    .unwrap();
    running.shutdown().await;
}

fn log_in(b: &mut Browser, url: &str, admin: &str) {
    b.navigate(&format!("{url}/ui/pipelines"));
    b.wait_for("the login page", "document.activeElement.id", |v| {
        v == "token"
    });
    b.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form[action=\"/ui/login\"]').submit(); true",
        json!(admin)
    ));
    b.wait_for("the pipelines page", "location.pathname", |v| {
        v == "/ui/pipelines"
    });
}

fn pipelines(b: &mut Browser, out: &Path, url: &str, admin: &str, commit: &str) {
    // The run appears (live, if the engine's first pass comes after load).
    b.wait_for(
        "a run waiting at its gate",
        "document.querySelector('#runs tbody')?.innerText ?? ''",
        |v| v.as_str().unwrap_or("").contains("gate dev"),
    );
    let rows = b.eval("document.querySelector('#runs tbody').innerText");
    assert!(rows.as_str().unwrap().contains(&commit[..7]), "{rows}");
    shot(b, out, "pipelines.png");
    b.eval("document.querySelector('#runs a[href^=\"/ui/pipelines/runs/\"]').click(); true");
    b.wait_for(
        "the run's page",
        "document.querySelector('h1')?.textContent ?? ''",
        |v| v.as_str().unwrap_or("").starts_with("Run #"),
    );
    let run = b.eval("document.getElementById('run').innerText");
    let run = run.as_str().unwrap();
    assert!(run.contains("Waiting: waiting for approval of"), "{run}");
    assert!(run.contains("not serving yet"), "{run}");
    shot(b, out, "run-waiting.png");

    // Approve by the application page's Promote button, in a second window
    // (same origin, driven from this one): the open run page follows
    // without a reload.
    b.eval("window.marker = 'not reloaded'; true");
    let opened = b.call(
        "Runtime.evaluate",
        json!({"expression": "window.app = window.open('/ui/apps/web?env=dev'); !!window.app", "userGesture": true}),
    );
    assert_eq!(opened["result"]["value"], true, "{opened}");
    b.wait_for(
        "the Promote button on the application's page",
        "window.app.document.querySelector('form[action=\"/ui/apps/web/promote\"] button')?.textContent ?? ''",
        |v| v == "Promote",
    );
    let diff_link = b.eval("window.app.document.querySelector('a[href=\"/ui/apps/web/diff?env=dev\"]')?.textContent ?? ''");
    assert_eq!(diff_link, "Diff live → desired");
    b.eval("window.app.confirm = () => true; window.app.document.querySelector('form[action=\"/ui/apps/web/promote\"] button').click(); true");
    b.wait_for(
        "the promotion answered with the application's page again",
        "(window.app.document.readyState === 'complete' && !window.app.document.querySelector('form[action=\"/ui/apps/web/promote\"]')) ? window.app.location.pathname : ''",
        |v| v == "/ui/apps/web",
    );
    b.wait_for(
        "the gate passed and the run healthy, live",
        "document.getElementById('run').innerText",
        |v| {
            let t = v.as_str().unwrap_or("");
            t.contains("healthy dev") && !t.contains("not serving yet")
        },
    );
    assert_eq!(b.eval("window.marker"), "not reloaded");
    let gate_log = b.eval(
        "[...document.querySelectorAll('#run li.run-step')].find(l => l.querySelector('h3').innerText.includes('gate dev')).querySelector('pre').innerText",
    );
    let gate_log = gate_log.as_str().unwrap();
    assert!(
        gate_log.contains("Waiting: waiting for approval") && gate_log.contains("Succeeded"),
        "the gate's log gained its line live: {gate_log}"
    );
    shot(b, out, "run-served.png");

    // The diff page: the engine's fresh comparison of dev, now synced.
    b.navigate(&format!("{url}/ui/apps/web/diff?env=dev"));
    let section = b.wait_for(
        "the diff of dev",
        "document.querySelector('section.diff-env')?.innerText ?? ''",
        |v| v.as_str().unwrap_or("").starts_with("dev"),
    );
    let section = section.as_str().unwrap();
    assert!(
        section.contains(&format!("revision {}", &commit[..7]))
            && section.contains("Live matches desired."),
        "{section}"
    );

    // An edit by hand (no self-heal here): the diff shows it as a removal
    // of the live value and an addition of git's.
    let c = reqwest::blocking::Client::new();
    let mut live: serde_json::Value = c
        .get(format!("{url}/api/v1/objects/configmaps/dev/web"))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    live["data"]["greeting"] = json!("edited-by-hand");
    let resp = c
        .post(format!("{url}/api/v1/apply"))
        .bearer_auth(admin)
        .json(&json!({"sources": [{"file": "cm.yaml", "text": live.to_string()}]}))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    // A comparison younger than 5 s is reused (the page says how old it
    // is): load the page again until a fresh one shows the edit.
    let lines = "document.querySelector('section.diff-env p.same') ? 'same' : \
        [...document.querySelectorAll('pre.diff del, pre.diff ins')].map(e => e.textContent).join('|')";
    poll("the hand edit in the diff", Duration::from_secs(30), || {
        b.navigate(&format!("{url}/ui/apps/web/diff?env=dev"));
        let v = b.wait_for("the diff page", lines, |v| {
            v.as_str().is_some_and(|s| !s.is_empty())
        });
        (v == "- data.greeting: edited-by-hand|+ data.greeting: hello").then_some(())
    });
    shot(b, out, "diff.png");
}

fn registry_and_map(b: &mut Browser, out: &Path, url: &str, digest: &str) {
    b.navigate(&format!("{url}/ui/registry"));
    b.wait_for(
        "the registry page",
        "document.querySelector('h1')?.textContent",
        |v| v == "Registry",
    );
    b.eval("document.querySelector('a[href=\"/ui/registry/repo?name=team%2Fweb\"]').click(); true");
    b.wait_for(
        "the repository's tags",
        "document.querySelector('tbody th[scope=row]')?.textContent ?? ''",
        |v| v == "v1",
    );
    let row = b.eval("document.querySelector('tbody tr').innerText");
    let row = row.as_str().unwrap();
    assert!(row.contains(&digest[..19]) && row.contains("KiB"), "{row}");
    assert!(row.contains("uk\theld") || row.contains("uk held"), "{row}");
    assert!(
        row.contains("http://127.0.0.1:9\tpending") || row.contains("http://127.0.0.1:9 pending"),
        "the rule's copy to an unreachable target waits: {row}"
    );
    shot(b, out, "registry-repo.png");

    b.navigate(&format!("{url}/ui"));
    b.wait_for(
        "the delivery map",
        "document.querySelectorAll('svg.map rect').length",
        |v| v == 3,
    );
    let paths = b.eval("document.querySelector('ul.map-paths').innerText");
    let paths = paths.as_str().unwrap();
    assert!(
        paths.contains("uk (up) replicates by rule uk-to-mirror (1 pending) to http://127.0.0.1:9")
            && paths.contains("uk (up) deploys to environment dev"),
        "{paths}"
    );
    let height = b.eval("document.querySelector('svg.map').getBoundingClientRect().height");
    assert!(
        height.as_f64().unwrap() > 50.0,
        "the map is drawn: {height}"
    );
    b.eval("document.getElementById('delivery-map').scrollIntoView(); true");
    shot(b, out, "overview-map.png");
}
