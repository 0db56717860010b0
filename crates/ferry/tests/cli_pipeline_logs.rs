//! `ferry pipeline logs` against a real `ferry up` whose pipeline builds an
//! image (`FROM scratch` + `COPY`, ferry's own builder, pushed to the
//! region's registry) and then waits at a manual gate: the build step's
//! log lines (the builder's `FROM` and `STEP n/m` lines) print with their `[step]`
//! prefix, `--step` prints one step alone, an unknown step is refused
//! naming the run's steps, and `-f` keeps following the waiting run —
//! printing nothing twice — until `ferry app promote` lets it finish.

mod common;

use std::time::Duration;

use common::{cli, ferry, ok, text, up};
use ferry_test_support::{Proc, git, git_commit, poll, temp_dir, topology_yaml};
use serde_json::Value;

const DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt /hello.txt\n";
const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {greeting: hello}\n";

/// Region `uk` with environment `dev`, application `web` from `repo` and a
/// pipeline building image `web` from `app/`, gated by hand.
fn topology(dir: &std::path::Path, repo: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "{}---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{stage: dev}}}}\nspec: {{region: uk}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  source: {{repoUrl: '{}', path: k8s}}\n  syncPolicy: {{automated: true}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}\nspec:\n  application: web\n  buildRegion: uk\n  \
         images: [{{name: web, context: app}}]\n  rules:\n  \
         - {{branch: master, imageTag: 'm-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}, manualApproval: true}}\n",
        topology_yaml(&["uk"], dir),
        repo.display()
    );
    let path = dir.join("topology.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The newest run, once its image is built and it waits at the gate.
fn built_and_waiting(api: &str) -> Option<Value> {
    let out = cli(api, &["pipeline", "runs", "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let run = v["items"].as_array()?.last()?.clone();
    let step = |name: &str| {
        let steps = run["steps"].as_array();
        steps.and_then(|s| {
            s.iter()
                .find(|s| s["name"] == name)
                .map(|s| s["state"].clone())
        })
    };
    let built = step("build web")? == "Succeeded";
    (built && step("gate dev")? == "Waiting").then_some(run)
}

#[test]
fn the_build_steps_log_prints_and_follows_until_the_run_ends() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(
        &repo,
        &[
            ("k8s/config.yaml", CONFIG_MAP),
            ("app/Dockerfile", DOCKERFILE),
            ("app/hello.txt", "hello\n"),
        ],
        "v1",
    );
    let (_up, api) = up(&topology(dir.path(), &repo), dir.path());
    let run = poll("a run built and waiting", Duration::from_secs(90), || {
        built_and_waiting(&api)
    });
    let id = run["id"].to_string();

    let all = ok(cli(&api, &["pipeline", "logs", &id]));
    for line in [
        "[checkout] Succeeded",
        "[build web] [stage 0] FROM scratch",
        "[build web] STEP 1/1: COPY hello.txt /hello.txt",
        "state: Waiting",
    ] {
        assert!(all.lines().any(|l| l == line), "no `{line}` in:\n{all}");
    }
    assert!(all.contains("[gate dev] Waiting"), "{all}");
    assert!(all.starts_with(&format!("run {id}: web master ")), "{all}");

    let one = ok(cli(&api, &["pipeline", "logs", &id, "--step", "build web"]));
    assert!(
        one.lines()
            .any(|l| l == "STEP 1/1: COPY hello.txt /hello.txt"),
        "{one}"
    );
    assert!(
        !one.contains("[build web]") && !one.contains("gate") && !one.contains("state:"),
        "one step alone, unprefixed:\n{one}"
    );
    let none = cli(&api, &["pipeline", "logs", &id, "--step", "nope"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(
        text(&none).contains("has no step `nope`; its steps: checkout, ")
            && text(&none).contains("build web"),
        "{}",
        text(&none)
    );

    // -f follows the waiting run until the approval lets it finish.
    let mut follow = ferry();
    follow
        .args(["pipeline", "logs", &id, "-f"])
        .env("FERRY_SERVER", &api)
        .env("FERRY_CONFIG", common::client_config(dir.path()));
    let mut follow = Proc::spawn("logs-follow", follow, dir.path());
    poll(
        "-f printed the waiting gate",
        Duration::from_secs(10),
        || follow.stdout().contains("[gate dev] Waiting").then_some(()),
    );
    assert!(
        follow.wait_timeout(Duration::from_millis(900)).is_none(),
        "-f stopped while the run waits:\n{}",
        follow.stdout()
    );
    ok(cli(&api, &["app", "promote", "web"]));
    let status = follow
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("-f did not end with the run:\n{}", follow.stdout()));
    let out = follow.stdout();
    assert!(status.success(), "{out}\n{}", follow.stderr());
    assert!(out.contains("[gate dev] Succeeded"), "{out}");
    assert!(out.trim_end().ends_with("state: Succeeded"), "{out}");
    let copies = out.matches("STEP 1/1: COPY hello.txt /hello.txt").count();
    assert_eq!(copies, 1, "each line once:\n{out}");
}
