//! Two regions as two `ferry up --region` processes in their own network
//! namespaces, joined only by the emulated `uk-shanghai` WAN link
//! (ferry-test-support's `wan.rs`: 115 ms each way, 10 ms jitter,
//! 20 Mbit/s through toxiproxy): an image pushed to uk's registry is
//! replicated over the link into shanghai's exposed registry (HTTPS with
//! shanghai's CA, a robot login), `dev` deploys it in uk, and `prod` in
//! shanghai deploys it once uk's API says the commit is healthy in `dev`
//! (`requiresHealthyIn`, asked across the link with uk's CA and a token).
//! Then a bigger image is replicated while the link is cut, and finishes
//! after the link returns. Needs root, runc and toxiproxy
//! (`scripts/setup.sh --test-peers`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::text;
use ferry_test_support::wan::{Cut, Link, UK_SHANGHAI, Wan};
use ferry_test_support::{Proc, git, git_commit, poll, temp_dir};
use serde_json::Value;

const ROBOT_SECRET: &str = "uk-replicates-into-shanghai";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  \
    selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      \
    terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: myhero/web:0.0.0\n        \
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n";

/// The topology both processes read; `links` are (shanghai's registry,
/// uk's API) as seen across the WAN.
fn topology(dir: &Path, wan: &Wan, registry: &Link, api: &Link) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    git_commit(&repo, &[("k8s/web.yaml", DEPLOYMENT)], "web");
    std::fs::write(dir.join("robot.secret"), ROBOT_SECRET).unwrap();
    let d = dir.display();
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {d}/uk\n  \
         listeners: {{api: '{uk}:7070', registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}}\n  \
         tls: {{generate: true, hostnames: ['{wan_ip}']}}\n  \
         endpoints: {{api: 'https://{api}', caFile: {d}/uk/tls/ca.crt, tokenFile: {d}/uk.token}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  dataDir: {d}/shanghai\n  \
         listeners: {{api: 127.0.0.1:7071, registry: '{sh}:5000', gateway: 127.0.0.1:8082}}\n  registry:\n    \
         anonymousPull: true\n    tls: {{generate: true, hostnames: ['{wan_ip}']}}\n    robots:\n    \
         - {{name: uk, secretHash: '{hash}', permissions: [{{repositories: '**', actions: [pull, push]}}]}}\n  \
         endpoints: {{registry: 'https://{reg}', caFile: {d}/shanghai/tls/ca.crt}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: dev, labels: {{app: web, stage: dev}}}}\nspec: {{region: uk}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: prod, labels: {{app: web, stage: prod}}}}\nspec: {{region: shanghai}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: uk-to-shanghai}}\nspec:\n  \
         source: {{region: uk}}\n  target: {{region: shanghai, credentials: {{username: 'robot$uk', passwordFile: {d}/robot.secret}}}}\n  \
         repositories: ['myhero/*']\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: web}}\nspec:\n  \
         source: {{repoUrl: '{repo}', path: k8s}}\n  environments: {{matchLabels: {{app: web}}}}\n  \
         syncPolicy: {{automated: true, selfHeal: true, prune: true}}\n  imagePolicies: [{{image: myhero/web, semver: '>=1.0.0'}}]\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: web}}\nspec:\n  application: web\n  buildRegion: uk\n  rules:\n  \
         - {{branch: master, imageTag: 'x-{{sha7}}', environments: {{matchLabels: {{stage: dev}}}}}}\n  \
         - {{branch: master, imageTag: 'x-{{sha7}}', environments: {{matchLabels: {{stage: prod}}}}, requiresHealthyIn: dev}}\n",
        uk = wan.ip("uk"),
        sh = wan.ip("shanghai"),
        wan_ip = ferry_test_support::wan::ROUTER_IP,
        api = api.addr,
        reg = registry.addr,
        hash = ferry_registry::auth::hash_secret(ROBOT_SECRET),
        repo = repo.display(),
    );
    let path = dir.join("topology.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `ferry up -f topo --region name` inside the region's namespace; waits
/// for its endpoint table.
fn up_region(wan: &Wan, dir: &Path, topo: &Path, name: &str) -> Proc {
    let mut cmd = wan
        .netns(name)
        .command(Path::new(env!("CARGO_BIN_EXE_ferry")));
    cmd.args(["up", "-f"])
        .arg(topo)
        .args(["--region", name, "-o", "json"])
        .env("FERRY_CONFIG", dir.join(format!("{name}-client.yaml")))
        .env("FERRY_GIT_POLL_SECONDS", "1");
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

/// `GET /api/v1/apps/web` of a region, from inside its namespace.
fn app(wan: &Wan, dir: &Path, region: &str) -> Option<Value> {
    get(wan, dir, region, "apps/web")
}

/// `GET /api/v1/PATH` of a region's API, from inside its namespace.
fn get(wan: &Wan, dir: &Path, region: &str, path: &str) -> Option<Value> {
    let auth = format!("Authorization: Bearer {}", token(dir, region));
    let out = match region {
        "uk" => {
            let ca = dir.join("uk/tls/ca.crt");
            let url = format!("https://{}:7070/api/v1/{path}", wan.ip("uk"));
            run_in(
                wan,
                "uk",
                "curl",
                &["-sf", "--cacert", ca.to_str().unwrap(), "-H", &auth, &url],
            )
        }
        _ => run_in(
            wan,
            region,
            "curl",
            &["-sf", "-H", &auth, "http://127.0.0.1:7071/api/v1/apps/web"],
        ),
    };
    serde_json::from_slice(&out.stdout).ok()
}

/// The environment `env` of `app`'s status, when synced and Healthy.
fn healthy<'a>(app: &'a Value, env: &str) -> Option<&'a Value> {
    let e = app["environments"]
        .as_array()?
        .iter()
        .find(|e| e["environment"] == env)?;
    (e["health"] == "Healthy" && e["syncedRevision"].is_string()).then_some(e)
}

/// Tags of `myhero/web` in shanghai's registry (its loopback twin).
fn shanghai_tags(wan: &Wan) -> Vec<String> {
    let out = run_in(
        wan,
        "shanghai",
        "curl",
        &["-sf", "http://127.0.0.1:5000/v2/myhero/web/tags/list"],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(String::from))
        .collect()
}

fn push(wan: &Wan, dir: &Path, version: &str, extra: Option<&Path>) {
    let reference = format!("127.0.0.1:5001/myhero/web:{version}");
    let mut args = vec![
        "image", "build", "-t", &reference, "--httpd", version, "--push",
    ];
    let layer = extra.map(|p| format!("{}:/data", p.display()));
    if let Some(l) = &layer {
        args.extend(["--dir", l.as_str()]);
    }
    let mut cmd: Command = wan
        .netns("uk")
        .command(Path::new(env!("CARGO_BIN_EXE_ferry")));
    let out = cmd
        .args(&args)
        .env("FERRY_CONFIG", dir.join("uk-client.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "push {reference}: {}", text(&out));
}

#[test]
fn uk_replicates_to_shanghai_across_the_wan_and_shanghai_deploys_after_dev_is_healthy() {
    let dir = temp_dir();
    let dir = dir.path();
    let mut wan = Wan::start(&["uk", "shanghai"], dir);
    let registry = wan.link("shanghai", 5000, UK_SHANGHAI);
    let api = wan.link("uk", 7070, UK_SHANGHAI);
    let topo = topology(dir, &wan, &registry, &api);

    // shanghai first: uk's replication trusts shanghai's CA from the start.
    let _shanghai = up_region(&wan, dir, &topo, "shanghai");
    let _uk = up_region(&wan, dir, &topo, "uk");
    std::fs::write(dir.join("uk.token"), token(dir, "uk")).unwrap();

    push(&wan, dir, "1.0.0", None);
    let pushed = Instant::now();
    poll(
        "1.0.0 replicated to shanghai",
        Duration::from_secs(60),
        || {
            shanghai_tags(&wan)
                .contains(&"1.0.0".to_string())
                .then_some(())
        },
    );
    let replicated = pushed.elapsed();
    let dev = poll("dev healthy in uk", Duration::from_secs(120), || {
        healthy(&app(&wan, dir, "uk")?, "dev").cloned()
    });
    let prod = poll("prod healthy in shanghai", Duration::from_secs(120), || {
        healthy(&app(&wan, dir, "shanghai")?, "prod").cloned()
    });
    eprintln!("push to present in shanghai: {replicated:?}");
    assert_eq!(prod["syncedRevision"], dev["syncedRevision"], "{prod}");
    let images = prod["images"].to_string();
    assert!(images.contains("127.0.0.1:5000/myhero/web:1.0.0"), "{prod}");
    let in_uk = app(&wan, dir, "uk").unwrap();
    let elsewhere = in_uk["environments"].to_string();
    assert!(
        elsewhere.contains("delivered by region `shanghai`'s own process"),
        "{in_uk}"
    );

    // A bigger image while the link is cut: it finishes once the link
    // returns, and the attempt that succeeds sends only what had not
    // arrived (the upload session resumes at the offset shanghai holds).
    let sent_before = replicated_bytes(&wan, dir);
    let big = dir.join("big");
    std::fs::create_dir_all(&big).unwrap();
    let mut noise = vec![0u8; 6_000_000];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut noise,
    )
    .unwrap();
    std::fs::write(big.join("noise"), noise).unwrap();
    push(&wan, dir, "2.0.0", Some(&big));
    let started = Instant::now();
    // Cut once shanghai holds 2 MB of the layer's upload session.
    let uploads = dir.join("shanghai/registry/store/uploads");
    poll("the layer half-way across", Duration::from_secs(30), || {
        let held = std::fs::read_dir(&uploads).ok()?.flatten();
        let most = held
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()?;
        (most >= 2_000_000).then_some(())
    });
    wan.cut(&registry, Cut::Reset);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !shanghai_tags(&wan).contains(&"2.0.0".to_string()),
        "finished before the cut"
    );
    wan.restore(&registry);
    poll(
        "2.0.0 replicated after the link returned",
        Duration::from_secs(120),
        || {
            shanghai_tags(&wan)
                .contains(&"2.0.0".to_string())
                .then_some(())
        },
    );
    let took = started.elapsed();
    let sent = replicated_bytes(&wan, dir) - sent_before;
    eprintln!("6 MB layer with a 3 s cut: {took:?}; the successful attempt sent {sent} bytes");
    assert!(
        sent < 4_500_000,
        "the copy started over: {sent} bytes after the cut, 2 MB had arrived before it"
    );
    poll("prod follows 2.0.0", Duration::from_secs(120), || {
        let a = app(&wan, dir, "shanghai")?;
        healthy(&a, "prod")?["images"]
            .to_string()
            .contains("web:2.0.0")
            .then_some(())
    });
}

/// Bytes uk's replication rule has sent in copies that succeeded.
fn replicated_bytes(wan: &Wan, dir: &Path) -> u64 {
    let status = get(wan, dir, "uk", "replication").expect("replication status");
    let rules = status["rules"]
        .as_array()
        .or(status.as_array())
        .cloned()
        .unwrap_or_default();
    rules.iter().filter_map(|r| r["bytes"].as_u64()).sum()
}
