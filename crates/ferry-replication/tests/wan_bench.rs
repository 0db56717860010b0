//! Benchmark (run by `bench/wan.sh`, `#[ignore]`d otherwise): replication
//! of a multi-layer image across the emulated uk–shanghai WAN
//! (ferry-test-support's `wan.rs`: 115 ms each way, 10 ms jitter,
//! 20 Mbit/s, through toxiproxy), by the shipped binary: two `ferry up
//! --region` processes in their own network namespaces, uk replicating into
//! shanghai's exposed registry (HTTPS with shanghai's CA, a robot login).
//! The same bytes are then copied by `skopeo copy` from uk's registry to
//! shanghai's over the same link (another image of the same sizes, so no
//! blob is already there). Prints the time from "push completed in uk" to
//! "tag present in shanghai" against the floor (bytes ÷ the link's
//! bandwidth) and against skopeo.
//!
//! Environment: `FERRY_BENCH_BIN` (the ferry binary; bench/wan.sh builds
//! the perf profile), `FERRY_WAN_MB` (image size, default 64),
//! `FERRY_WAN_LAYERS` (default 4). Needs root, toxiproxy and skopeo
//! (`scripts/setup.sh --test-peers`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ferry_test_support::wan::{Link, UK_SHANGHAI, Wan};
use ferry_test_support::{Proc, poll, temp_dir};
use serde_json::Value;

const ROBOT_SECRET: &str = "uk-replicates-into-shanghai";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ferry_bin() -> PathBuf {
    let bin = std::env::var_os("FERRY_BENCH_BIN").map(PathBuf::from);
    let bin = bin.expect("set FERRY_BENCH_BIN to the ferry binary (bench/wan.sh does)");
    assert!(bin.exists(), "{} does not exist", bin.display());
    bin
}

fn topology(dir: &Path, wan: &Wan, registry: &Link) -> PathBuf {
    let d = dir.display();
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  dataDir: {d}/uk\n  \
         listeners: {{api: 127.0.0.1:7070, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  dataDir: {d}/shanghai\n  \
         listeners: {{api: 127.0.0.1:7071, registry: '{sh}:5000', gateway: 127.0.0.1:8082}}\n  registry:\n    \
         anonymousPull: true\n    tls: {{generate: true, hostnames: ['{wan_ip}']}}\n    robots:\n    \
         - {{name: uk, secretHash: '{hash}', permissions: [{{repositories: '**', actions: [pull, push]}}]}}\n  \
         endpoints: {{registry: 'https://{reg}', caFile: {d}/shanghai/tls/ca.crt}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: uk-to-shanghai}}\nspec:\n  \
         source: {{region: uk}}\n  target: {{region: shanghai, credentials: {{username: 'robot$uk', passwordFile: {d}/robot.secret}}}}\n  \
         repositories: ['bench/ferry']\n",
        sh = wan.ip("shanghai"),
        wan_ip = ferry_test_support::wan::ROUTER_IP,
        reg = registry.addr,
        hash = ferry_registry::auth::hash_secret(ROBOT_SECRET),
    );
    std::fs::write(dir.join("robot.secret"), ROBOT_SECRET).unwrap();
    let path = dir.join("topology.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn up_region(wan: &Wan, dir: &Path, topo: &Path, name: &str) -> Proc {
    let mut cmd = wan.netns(name).command(&ferry_bin());
    cmd.args(["up", "-f"])
        .arg(topo)
        .args(["--region", name, "-o", "json"])
        .env("FERRY_CONFIG", dir.join(format!("{name}-client.yaml")));
    let p = Proc::spawn(&format!("ferry-{name}"), cmd, dir).with_grace(Duration::from_secs(45));
    poll(
        &format!("{name}'s endpoint table"),
        Duration::from_secs(60),
        || serde_json::from_str::<Value>(&p.stdout()).ok(),
    );
    p
}

fn run_in(wan: &Wan, ns: &str, program: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd: Command = wan.netns(ns).command(program);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `layers` directories of incompressible bytes, `total` bytes in all.
fn layer_dirs(root: &Path, total: u64, layers: u64) -> Vec<PathBuf> {
    let mut rng = std::fs::File::open("/dev/urandom").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    (0..layers)
        .map(|i| {
            let d = root.join(format!("l{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let mut f = std::io::BufWriter::new(std::fs::File::create(d.join("noise")).unwrap());
            let mut left = total / layers;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                std::io::Read::read_exact(&mut rng, &mut buf[..n]).unwrap();
                f.write_all(&buf[..n]).unwrap();
                left -= n as u64;
            }
            d
        })
        .collect()
}

fn push(wan: &Wan, dir: &Path, reference: &str, layers: &[PathBuf]) {
    let specs: Vec<String> = (layers.iter().enumerate())
        .map(|(i, l)| format!("{}:/l{i}", l.display()))
        .collect();
    let mut args = vec!["image", "build", "-t", reference, "--push"];
    for s in &specs {
        args.extend(["--dir", s.as_str()]);
    }
    let config = dir.join("uk-client.yaml");
    let out = run_in(wan, "uk", &ferry_bin(), &args, &[("FERRY_CONFIG", &config)]);
    assert!(
        out.status.success(),
        "push {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn shanghai_has(wan: &Wan, repo: &str, tag: &str) -> bool {
    let url = format!("http://127.0.0.1:5000/v2/{repo}/tags/list");
    let out = run_in(wan, "shanghai", Path::new("curl"), &["-sf", &url], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == tag))
}

/// Blob bytes uk's rule sent (from uk's API).
fn replicated_bytes(wan: &Wan, dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("uk-client.yaml")).unwrap();
    let token = text.lines().find_map(|l| l.trim().strip_prefix("token:"));
    let token = token.expect("token").trim().trim_matches('"');
    let auth = format!("Authorization: Bearer {token}");
    let url = "http://127.0.0.1:7070/api/v1/replication";
    let out = run_in(
        wan,
        "uk",
        Path::new("curl"),
        &["-sf", "-H", &auth, url],
        &[],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("replication status");
    v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["bytes"].as_u64())
        .sum()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
#[ignore = "benchmark: run by bench/wan.sh"]
fn wan_replication_against_the_floor_and_skopeo() {
    let mb = env_u64("FERRY_WAN_MB", 64);
    let layers = env_u64("FERRY_WAN_LAYERS", 4).max(1);
    let dir = temp_dir();
    let dir = dir.path();
    let mut wan = Wan::start(&["uk", "shanghai"], dir);
    let registry = wan.link("shanghai", 5000, UK_SHANGHAI);
    let topo = topology(dir, &wan, &registry);
    let _shanghai = up_region(&wan, dir, &topo, "shanghai");
    let _uk = up_region(&wan, dir, &topo, "uk");
    let total = mb << 20;
    let ferry_layers = layer_dirs(&dir.join("ferry-data"), total, layers);
    let skopeo_layers = layer_dirs(&dir.join("skopeo-data"), total, layers);
    eprintln!("load before: {}", load());

    push(&wan, dir, "127.0.0.1:5001/bench/ferry:v1", &ferry_layers);
    let pushed = Instant::now();
    poll(
        "bench/ferry:v1 in shanghai",
        Duration::from_secs(3600),
        || shanghai_has(&wan, "bench/ferry", "v1").then_some(()),
    );
    let ferry_secs = pushed.elapsed().as_secs_f64();
    // The rule's counters move just after the manifest lands.
    let bytes = poll("the rule's byte count", Duration::from_secs(30), || {
        Some(replicated_bytes(&wan, dir)).filter(|b| *b > 0)
    });
    eprintln!("load after ferry: {}", load());

    // skopeo: uk's registry (loopback in uk) → shanghai across the link.
    push(&wan, dir, "127.0.0.1:5001/bench/skopeo:v1", &skopeo_layers);
    let certs = dir.join("skopeo-certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(dir.join("shanghai/tls/ca.crt"), certs.join("ca.crt")).unwrap();
    let dest = format!("docker://{}/bench/skopeo:v1", registry.addr);
    let creds = format!("robot$uk:{ROBOT_SECRET}");
    let cert_dir = certs.display().to_string();
    let args = [
        "copy",
        "--src-tls-verify=false",
        "--dest-cert-dir",
        &cert_dir,
        "--dest-creds",
        &creds,
        "docker://127.0.0.1:5001/bench/skopeo:v1",
        &dest,
    ];
    let scratch = dir.join("skopeo-home");
    std::fs::create_dir_all(&scratch).unwrap();
    let envs: [(&str, &Path); 2] = [("HOME", &scratch), ("XDG_RUNTIME_DIR", &scratch)];
    let started = Instant::now();
    let out = run_in(&wan, "uk", Path::new("skopeo"), &args, &envs);
    let skopeo_secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shanghai_has(&wan, "bench/skopeo", "v1"));
    eprintln!("load after skopeo: {}", load());

    let floor = bytes as f64 / UK_SHANGHAI.bytes_per_second() as f64;
    println!(
        "wan bench: {mb} MiB image in {layers} layers, uk-shanghai (230 ms RTT, 10 ms jitter, 20 Mbit/s)"
    );
    println!("  blob bytes sent by ferry: {bytes}; floor (bytes / 20 Mbit/s): {floor:.1} s");
    println!(
        "  ferry (push done -> tag in shanghai): {ferry_secs:.1} s = {:.2}x floor (target <= 1.15x)",
        ferry_secs / floor
    );
    println!(
        "  skopeo copy over the same link:       {skopeo_secs:.1} s = {:.2}x floor",
        skopeo_secs / floor
    );
    println!(
        "  ferry / skopeo: {:.2}x (target <= 0.7x)",
        ferry_secs / skopeo_secs
    );
    // toxiproxy limits each connection: layers copied at once each get
    // 20 Mbit/s, so the reachable floor is about one layer's bytes over
    // the bandwidth.
    let parallel = floor / layers.min(4) as f64;
    println!(
        "  per-connection floor (bytes / layers / 20 Mbit/s): {parallel:.1} s; ferry {:.2}x, skopeo {:.2}x",
        ferry_secs / parallel,
        skopeo_secs / parallel
    );
    println!("  load average at the end: {}", load());
}
