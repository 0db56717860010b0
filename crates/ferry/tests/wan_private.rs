//! A private region across the emulated `uk-shanghai` WAN: `shanghai` is
//! marked `spec.private: true` and its network namespace drops every
//! inbound SYN from the link (iptables), so nothing can dial it. Images
//! reach it by a `mode: pull` ReplicationRule its own process runs (polling
//! uk's exposed registry with uk's CA and a robot login); its `edge`
//! environment deploys them; and uk's `prod` (`requiresHealthyIn: edge`)
//! promotes on the status shanghai pushes out to uk's API with uk's CA and
//! token. When shanghai stops pushing, uk's gate treats the last record as
//! stale after three push intervals and does not promote. Needs root,
//! runc, iptables and toxiproxy (`scripts/setup.sh --test-peers`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::text;
use ferry_test_support::wan::{Link, ROUTER_IP, UK_SHANGHAI, Wan};
use ferry_test_support::{Proc, git, git_commit, poll, temp_dir};
use serde_json::Value;

const PULL_SECRET: &str = "shanghai-pulls-from-uk";
const CI_SECRET: &str = "ci-pushes-into-uk";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  \
    selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      \
    terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: myhero/web:0.0.0\n        \
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n";

/// The topology both processes read; `registry` and `api` are uk's, as
/// shanghai reaches them across the WAN. Nothing names a way into shanghai.
fn topology(dir: &Path, wan: &Wan, registry: &Link, api: &Link) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/web.yaml", DEPLOYMENT)], "web");
    std::fs::write(dir.join("pull.secret"), PULL_SECRET).unwrap();
    let (d, uk, router) = (dir.display(), wan.ip("uk"), ROUTER_IP);
    let robot = |name: &str, secret: &str, actions: &str| {
        let hash = ferry_registry::auth::hash_secret(secret);
        format!(
            "    - {{name: {name}, secretHash: '{hash}', permissions: [{{repositories: '**', actions: [{actions}]}}]}}\n"
        )
    };
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {d}/uk\n  \
         listeners: {{api: '{uk}:7070', registry: '{uk}:5001', gateway: 127.0.0.1:8081}}\n  \
         tls: {{generate: true, hostnames: ['{router}']}}\n  registry:\n    anonymousPull: true\n    \
         tls: {{generate: true, hostnames: ['{router}']}}\n    robots:\n{pull}{ci}  \
         endpoints: {{api: 'https://{api}', registry: 'https://{reg}', caFile: {d}/uk/tls/ca.crt, tokenFile: {d}/uk.token}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  dataDir: {d}/shanghai\n  \
         private: true\n  listeners: {{api: 127.0.0.1:7071, registry: 127.0.0.1:5000, gateway: 127.0.0.1:8082}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: edge, labels: {{app: web, stage: edge}}}}\nspec: {{region: shanghai}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod, labels: {{app: web, stage: prod}}}}\nspec: {{region: uk}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: shanghai-pulls}}\nspec:\n  mode: pull\n  \
         source: {{region: uk, credentials: {{username: 'robot$shanghai', passwordFile: {d}/pull.secret}}}}\n  \
         target: {{region: shanghai}}\n  repositories: ['myhero/*']\n  reconcileIntervalSeconds: 1\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{app: web}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n  imagePolicies: [{{image: myhero/web, semver: '>=1.0.0'}}]\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}\nspec:\n  application: web\n  buildRegion: uk\n  rules:\n  \
         - {{branch: master, imageTag: 'x-{{sha7}}', environments: {{matchLabels: {{stage: edge}}}}}}\n  \
         - {{branch: master, imageTag: 'x-{{sha7}}', environments: {{matchLabels: {{stage: prod}}}}, requiresHealthyIn: edge}}\n",
        api = api.addr,
        reg = registry.addr,
        pull = robot("shanghai", PULL_SECRET, "pull"),
        ci = robot("ci", CI_SECRET, "pull, push"),
        repo = repo.display(),
    );
    let path = dir.join("topology.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `ferry up -f topo --region name` inside the region's namespace (status
/// pushed every second); waits for its endpoint table.
fn up_region(wan: &Wan, dir: &Path, topo: &Path, name: &str) -> Proc {
    let mut cmd = wan
        .netns(name)
        .command(Path::new(env!("CARGO_BIN_EXE_ferry")));
    cmd.args(["up", "-f"])
        .arg(topo)
        .args(["--region", name, "-o", "json"])
        .env("FERRY_CONFIG", dir.join(format!("{name}-client.yaml")))
        .env("FERRY_GIT_POLL_SECONDS", "1")
        .env("FERRY_STATUS_PUSH_SECONDS", "1");
    let p = Proc::spawn(&format!("ferry-{name}"), cmd, dir).with_grace(Duration::from_secs(45));
    poll(
        &format!("{name}'s endpoint table"),
        Duration::from_secs(30),
        || serde_json::from_str::<Value>(&p.stdout()).ok(),
    );
    p
}

/// The admin token `ferry up` wrote into `name`'s client config.
fn token(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{name}-client.yaml"))).unwrap();
    let line = text.lines().find_map(|l| l.trim().strip_prefix("token:"));
    line.expect("a token in the client config")
        .trim()
        .trim_matches('"')
        .to_string()
}

fn run_in(wan: &Wan, ns: &str, program: &str, args: &[&str]) -> Output {
    wan.netns(ns)
        .command(Path::new(program))
        .args(args)
        .output()
        .unwrap()
}

/// `GET /api/v1/apps/web` of a region's API, from inside its namespace.
fn app(wan: &Wan, dir: &Path, region: &str) -> Option<Value> {
    let auth = format!("Authorization: Bearer {}", token(dir, region));
    let out = if region == "uk" {
        let ca = dir.join("uk/tls/ca.crt");
        let url = format!("https://{}:7070/api/v1/apps/web", wan.ip("uk"));
        let ca = ca.to_str().unwrap();
        run_in(
            wan,
            "uk",
            "curl",
            &["-sf", "--cacert", ca, "-H", &auth, &url],
        )
    } else {
        let url = "http://127.0.0.1:7071/api/v1/apps/web";
        run_in(wan, region, "curl", &["-sf", "-H", &auth, url])
    };
    serde_json::from_slice(&out.stdout).ok()
}

/// The environment `env` of `app`'s status.
fn env<'a>(app: &'a Value, env: &str) -> Option<&'a Value> {
    let envs = app["environments"].as_array()?;
    envs.iter().find(|e| e["environment"] == env)
}

/// `env` when synced and Healthy.
fn healthy<'a>(app: &'a Value, name: &str) -> Option<&'a Value> {
    let e = env(app, name)?;
    (e["health"] == "Healthy" && e["syncedRevision"].is_string()).then_some(e)
}

/// Whether `from` can open an HTTP connection to `link` (3 s at most).
fn reaches(wan: &Wan, from: &str, link: &Link) -> bool {
    let url = format!("http://{}/", link.addr);
    let out = run_in(
        wan,
        from,
        "curl",
        &["-s", "-o", "/dev/null", "--max-time", "3", &url],
    );
    out.status.success()
}

fn shanghai_tags(wan: &Wan) -> String {
    let url = "http://127.0.0.1:5000/v2/myhero/web/tags/list";
    String::from_utf8_lossy(&run_in(wan, "shanghai", "curl", &["-sf", url]).stdout).into_owned()
}

#[test]
fn a_private_region_pulls_its_images_and_pushes_its_status_with_no_inbound_connection() {
    let dir = temp_dir();
    let dir = dir.path();
    let mut wan = Wan::start(&["uk", "shanghai"], dir);
    let registry = wan.link("uk", 5001, UK_SHANGHAI);
    let api = wan.link("uk", 7070, UK_SHANGHAI);
    let probe_link = wan.link("shanghai", 9000, UK_SHANGHAI);
    let topo = topology(dir, &wan, &registry, &api);

    // A probe server in shanghai: reachable from uk until the SYNs drop.
    let mut probe = wan.netns("shanghai").command(Path::new("python3"));
    probe.args([
        "-m",
        "http.server",
        "9000",
        "--bind",
        &wan.ip("shanghai").to_string(),
    ]);
    let _probe = Proc::spawn("probe", probe, dir);
    poll("the probe answers uk", Duration::from_secs(20), || {
        reaches(&wan, "uk", &probe_link).then_some(())
    });
    let drop_syn = [
        "-A", "INPUT", "-i", "eth0", "-p", "tcp", "--syn", "-j", "DROP",
    ];
    let out = run_in(&wan, "shanghai", "iptables", &drop_syn);
    assert!(out.status.success(), "iptables: {}", text(&out));
    assert!(!reaches(&wan, "uk", &probe_link), "inbound SYNs still pass");

    // uk first: shanghai's pull rule trusts uk's CA from the start.
    let _uk = up_region(&wan, dir, &topo, "uk");
    std::fs::write(dir.join("uk.token"), token(dir, "uk")).unwrap();
    let mut shanghai = Some(up_region(&wan, dir, &topo, "shanghai"));

    let push = |version: &str| {
        let reference = format!("127.0.0.1:5001/myhero/web:{version}");
        let args = [
            "image", "build", "-t", &reference, "--httpd", version, "--push",
        ];
        let creds = ["--username", "robot$ci", "--password", CI_SECRET];
        let ferry = Path::new(env!("CARGO_BIN_EXE_ferry"));
        let mut cmd: Command = wan.netns("uk").command(ferry);
        cmd.args(args)
            .args(creds)
            .env("FERRY_CONFIG", dir.join("uk-client.yaml"));
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "push {reference}: {}", text(&out));
    };
    push("1.0.0");
    poll(
        "1.0.0 pulled into shanghai",
        Duration::from_secs(60),
        || shanghai_tags(&wan).contains("1.0.0").then_some(()),
    );
    let edge = poll("edge healthy in shanghai", Duration::from_secs(120), || {
        healthy(&app(&wan, dir, "shanghai")?, "edge").cloned()
    });
    assert!(
        edge["images"]
            .to_string()
            .contains("127.0.0.1:5000/myhero/web:1.0.0"),
        "{edge}"
    );
    let prod = poll("prod healthy in uk", Duration::from_secs(120), || {
        healthy(&app(&wan, dir, "uk")?, "prod").cloned()
    });
    assert_eq!(prod["syncedRevision"], edge["syncedRevision"], "{prod}");
    let status = get_replication(&wan, dir);
    assert!(status.contains("shanghai-pulls"), "{status}");

    // shanghai stops pushing: uk's gate must not promote a new commit on
    // the old record, and says the record is stale.
    drop(shanghai.take());
    let repo = dir.join("repo");
    let changed = DEPLOYMENT.replace("periodSeconds: 1", "periodSeconds: 2");
    git_commit(&repo, &[("k8s/web.yaml", &changed)], "slower probe");
    let waiting = poll(
        "uk's gate closed on a stale record",
        Duration::from_secs(120),
        || {
            let a = app(&wan, dir, "uk")?;
            let w = env(&a, "prod")?["waiting"].as_str()?.to_string();
            w.contains("stale after").then_some(w)
        },
    );
    assert!(waiting.contains("shanghai"), "{waiting}");
    let a = app(&wan, dir, "uk").unwrap();
    assert_eq!(
        env(&a, "prod").unwrap()["syncedRevision"],
        edge["syncedRevision"],
        "{a}"
    );
}

/// shanghai's replication status, from inside its namespace.
fn get_replication(wan: &Wan, dir: &Path) -> String {
    let auth = format!("Authorization: Bearer {}", token(dir, "shanghai"));
    let url = "http://127.0.0.1:7071/api/v1/replication";
    String::from_utf8_lossy(&run_in(wan, "shanghai", "curl", &["-sf", "-H", &auth, url]).stdout)
        .into_owned()
}
