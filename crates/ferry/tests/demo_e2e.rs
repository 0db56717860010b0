//! `ferry demo` end to end, with real git, two real registries, replication
//! between them, runc containers and both gateways: the demo itself asserts
//! dev answering in uk, prod answering in shanghai from shanghai's own
//! registry and the one-line change reaching both. The test then works the
//! live repository as a developer would: a UI-only commit restarts only the
//! UI (votes survive), a feature branch gets and loses its
//! own environment, a bad commit is reported without disturbing what runs,
//! and a Deployment changed by hand is put back (self-heal). Ctrl-C (SIGTERM)
//! stops everything and removes the demo directory. Needs root and runc.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{cli, client_config, ferry, remember, via_gateway};
use ferry_test_support::{Proc, git, poll, temp_dir};
use nix::sys::signal::Signal;
use serde_json::Value;

const APP_HOST: &str = "myhero-app.myhero.local";

/// Six consecutive free ports.
fn port_range() -> u16 {
    poll("six free ports", Duration::from_secs(10), || {
        let base = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        if base > 65000 {
            return None;
        }
        let held: Vec<_> = (base..base + 6)
            .map(|p| TcpListener::bind(("127.0.0.1", p)))
            .collect::<Result<_, _>>()
            .ok()?;
        drop(held);
        Some(base)
    })
}

fn app(api: &str) -> Value {
    let out = cli(api, &["app", "get", "myhero", "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn env<'a>(app: &'a Value, name: &str) -> Option<&'a Value> {
    app["environments"]
        .as_array()?
        .iter()
        .find(|e| e["environment"] == name)
}

fn pods(api: &str, ns: &str) -> Vec<Value> {
    let out = cli(api, &["get", "pods", "-n", ns, "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["items"].as_array().cloned().unwrap_or_default()
}

fn ui_answers(gateway: u16, needle: &str) -> bool {
    ui_answers_host(gateway, "myhero-ui.myhero.local", needle)
}

fn ui_answers_host(gateway: u16, host: &str, needle: &str) -> bool {
    via_gateway(&format!("127.0.0.1:{gateway}"), host, "GET", "/", None)
        .is_some_and(|body| body.contains(needle))
}

#[test]
fn demo_delivers_myhero_to_both_regions_and_stays_live() {
    let dir = temp_dir();
    let demo_dir = dir.path().join("demo");
    let base = port_range();
    let (uk_api, uk_gw) = (format!("http://127.0.0.1:{base}"), base + 2);
    let (sh_api, sh_reg) = (format!("http://127.0.0.1:{}", base + 3), base + 4);
    let bin = Path::new(env!("CARGO_BIN_EXE_ferry")).parent().unwrap();
    let mut cmd = ferry();
    cmd.arg("demo")
        .args(["--ports", &base.to_string(), "--timeout", "400"])
        .arg("--dir")
        .arg(&demo_dir)
        .arg("--bin")
        .arg(bin)
        .env("RUST_LOG", "warn")
        .env("FERRY_CONFIG", client_config(dir.path()));
    remember(&uk_api, client_config(dir.path()));
    remember(&sh_api, client_config(dir.path()));
    let mut demo = Proc::spawn("ferry-demo", cmd, dir.path()).with_grace(Duration::from_secs(60));
    let out = poll(
        "the demo to reach both regions",
        Duration::from_secs(900),
        || {
            if demo.wait_timeout(Duration::ZERO).is_some() {
                panic!("demo exited early:\n{}\n{}", demo.stdout(), demo.stderr());
            }
            let out = demo.stdout();
            out.contains("ferry is delivering myhero").then_some(out)
        },
    );
    // The pipeline built every image in uk; prod runs from shanghai's registry.
    for image in ["myhero/data", "myhero/app", "myhero/ui"] {
        assert!(out.contains(&format!("✓ build {image}")), "{out}");
    }
    assert!(out.contains("✓ replicate to shanghai"), "{out}");
    let prod_line = out
        .lines()
        .find(|l| l.contains("prod runs from shanghai's own registry"))
        .unwrap();
    assert_eq!(
        prod_line
            .matches(&format!("127.0.0.1:{sh_reg}/myhero/"))
            .count(),
        3,
        "{prod_line}"
    );
    assert!(out.contains("commit-to-serving in uk:"), "{out}");
    // The rollout of the last change finishes with one pod per Deployment.
    let sh_pods = poll("prod's rollout to settle", Duration::from_secs(120), || {
        let p = pods(&sh_api, "prod");
        (p.len() == 3).then_some(p)
    });
    for p in &sh_pods {
        let image = p["spec"]["containers"][0]["image"].as_str().unwrap();
        assert!(
            image.starts_with(&format!("127.0.0.1:{sh_reg}/")),
            "{image}"
        );
    }
    assert!(ui_answers(uk_gw, "Make TWO voices heard"));

    let repo = demo_dir.join("myhero");
    // A change to the UI alone rebuilds and restarts only myhero-ui: votes
    // cast before it are still counted (myhero-data keeps them in an
    // emptyDir, lost if its pod restarted).
    let data_pods = || -> Vec<String> {
        pods(&uk_api, "dev")
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .filter(|n| n.starts_with("myhero-data"))
            .collect()
    };
    let before = data_pods();
    assert_eq!(before.len(), 1, "{before:?}");
    let gw = format!("127.0.0.1:{uk_gw}");
    let results =
        || via_gateway(&gw, APP_HOST, "GET", "/v2/results", Some("SecureApp")).unwrap_or_default();
    assert!(via_gateway(&gw, APP_HOST, "POST", "/vote/Batman", Some("SecureApp")).is_some());
    assert!(results().contains("\"Batman\",1"), "{}", results());
    let page = repo.join("ui/index.html");
    let mut html = std::fs::read_to_string(&page).unwrap();
    html.push_str("<!-- ui only -->\n");
    std::fs::write(&page, html).unwrap();
    git(&repo, &["commit", "-q", "-am", "ui: a comment"]);
    poll(
        "dev to serve the UI change",
        Duration::from_secs(300),
        || ui_answers(uk_gw, "<!-- ui only -->").then_some(()),
    );
    assert_eq!(data_pods(), before, "myhero-data was restarted");
    assert!(results().contains("\"Batman\",1"), "{}", results());
    // The first commit (v1), for the rollback below.
    let v1 = {
        let out = Command::new("git")
            .args(["rev-list", "--max-parents=0", "dev"])
            .current_dir(&repo)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // A feature branch gets its own environment in uk…
    git(&repo, &["checkout", "-q", "-b", "feature/login"]);
    std::fs::write(repo.join("README.md"), "login work\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "login"]);
    poll(
        "the feature environment to be healthy",
        Duration::from_secs(300),
        || {
            let a = app(&uk_api);
            let e = env(&a, "myhero-feature-login")?;
            (e["health"] == "Healthy" && e["ephemeral"] == true).then_some(())
        },
    );
    assert_eq!(pods(&uk_api, "myhero-feature-login").len(), 3);
    // Its Ingress hosts are its own: <env>.<host>.
    let preview = "myhero-feature-login.myhero-ui.myhero.local";
    poll(
        "the preview host to answer",
        Duration::from_secs(60),
        || ui_answers_host(uk_gw, preview, "Make TWO voices heard").then_some(()),
    );
    // …and loses it when the branch is deleted.
    git(&repo, &["checkout", "-q", "dev"]);
    git(&repo, &["branch", "-q", "-D", "feature/login"]);
    poll(
        "the feature environment to be torn down",
        Duration::from_secs(120),
        || {
            pods(&uk_api, "myhero-feature-login")
                .is_empty()
                .then_some(())
        },
    );

    // A bad commit is reported with its file; dev keeps serving.
    std::fs::write(
        repo.join("k8s/bad.yml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {replicas: many}\n",
    )
    .unwrap();
    git(&repo, &["add", "k8s/bad.yml"]);
    git(&repo, &["commit", "-q", "-m", "bad manifest"]);
    let error = poll(
        "the bad commit to be reported",
        Duration::from_secs(300),
        || {
            let a = app(&uk_api);
            env(&a, "dev")?["error"].as_str().map(str::to_string)
        },
    );
    assert!(error.contains("k8s/bad.yml"), "{error}");
    assert!(ui_answers(uk_gw, "Make TWO voices heard"));
    git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);

    // An object that leaves git is pruned (only what ferry created).
    std::fs::write(
        repo.join("k8s/extra.yml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n",
    )
    .unwrap();
    git(&repo, &["add", "k8s/extra.yml"]);
    git(&repo, &["commit", "-q", "-m", "extra config"]);
    let configmap = |present: bool| {
        let out = cli(
            &uk_api,
            &["get", "configmap", "extra", "-n", "dev", "-o", "json"],
        );
        (out.status.success() == present).then_some(())
    };
    poll(
        "the ConfigMap to be applied",
        Duration::from_secs(300),
        || configmap(true),
    );
    git(&repo, &["rm", "-q", "k8s/extra.yml"]);
    git(&repo, &["commit", "-q", "-m", "drop extra config"]);
    poll(
        "the ConfigMap to be pruned",
        Duration::from_secs(300),
        || configmap(false),
    );

    // Rollback pins dev to the v1 revision; a sync lifts the pin.
    let rb = cli(
        &uk_api,
        &["app", "rollback", "myhero", &v1[..7], "--env", "dev"],
    );
    assert!(
        rb.status.success(),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
    poll("dev to serve v1 again", Duration::from_secs(120), || {
        ui_answers(uk_gw, "Make ONE voice heard").then_some(())
    });
    let sync = cli(&uk_api, &["app", "sync", "myhero", "--env", "dev"]);
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    poll(
        "dev to serve the head of dev again",
        Duration::from_secs(120),
        || ui_answers(uk_gw, "Make TWO voices heard").then_some(()),
    );

    // A Deployment scaled by hand is put back by self-heal.
    let live = cli(
        &uk_api,
        &["get", "deployment", "myhero-app", "-n", "dev", "-o", "json"],
    );
    let mut deploy: Value = serde_json::from_slice(&live.stdout).unwrap();
    deploy["spec"]["replicas"] = 2.into();
    let file = dir.path().join("scaled.json");
    std::fs::write(&file, serde_json::to_vec(&deploy).unwrap()).unwrap();
    let applied = cli(&uk_api, &["apply", "-f", file.to_str().unwrap()]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    poll(
        "self-heal to restore one replica",
        Duration::from_secs(120),
        || {
            let live = cli(
                &uk_api,
                &["get", "deployment", "myhero-app", "-n", "dev", "-o", "json"],
            );
            let d: Value = serde_json::from_slice(&live.stdout).ok()?;
            (d["spec"]["replicas"] == 1).then_some(())
        },
    );
    let history = cli(&uk_api, &["app", "history", "myhero", "-o", "json"]);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("self-heal"), "{history}");

    demo.signal(Signal::SIGTERM);
    let status = demo
        .wait_timeout(Duration::from_secs(90))
        .expect("demo stops on SIGTERM");
    assert!(status.success(), "{}", demo.stderr());
    assert!(!demo_dir.exists(), "the demo removes its directory");
    assert!(!demo.group_alive(), "no process of the demo is left");
}
