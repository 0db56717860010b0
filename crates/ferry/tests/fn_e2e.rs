//! `ferry fn` through the real binary against a running `ferry up`: a
//! function from the http-sh template (busybox httpd running a shell
//! script) is written, built without a daemon, pushed to the region's
//! registry and applied as a Knative Service starting at zero; its first
//! invocation scales it from zero through the gateway's activator, and the
//! cold start shows in `ferry describe ksvc` and the region's /metrics.
//! Then the same for the http-rust template (a static Rust binary). Each
//! function's pod stops on SIGTERM when its service is deleted (a PID 1
//! without a handler would wait out the grace period).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ferry_test_support::{free_addr, poll, temp_dir};
use serde_json::Value;

mod common;
use common::{cli, ferry, ok, text, up};

/// `ferry ARGS` with the test's client config and data directory.
fn fcli(dir: &Path, api: &str, args: &[&str]) -> Output {
    ferry()
        .args(args)
        .env("FERRY_SERVER", api)
        .env("FERRY_CONFIG", common::client_config(dir))
        .env("XDG_DATA_HOME", dir.join("xdg"))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The function's pods: (all, without a deletion timestamp).
fn pods(api: &str, service: &str) -> (usize, usize) {
    let selector = format!("serving.knative.dev/service={service}");
    let out = cli(api, &["get", "pods", "-l", &selector, "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let live = items
        .iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .count();
    (items.len(), live)
}

fn live_pods(api: &str) -> usize {
    pods(api, "hello").1
}

/// Deletes the function's Knative Service; its pod must be gone well
/// inside the 30 s grace period: the template's PID 1 stops on SIGTERM.
fn deleted_promptly(api: &str, service: &str) {
    assert_eq!(pods(api, service).1, 1, "{service} runs one pod");
    let started = std::time::Instant::now();
    ok(cli(api, &["delete", &format!("ksvc/{service}")]));
    poll("pods gone", Duration::from_secs(60), || {
        (pods(api, service).0 == 0).then_some(())
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "{service}'s pod took {took:?} to stop: SIGTERM ignored?"
    );
}

#[test]
fn a_function_is_created_deployed_and_invoked_from_zero() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(
        &topo,
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: local}}\n\
             spec: {{dataDir: {}, listeners: {{api: {}, registry: {}, gateway: {}}}}}\n",
            dir.path().join("local").display(),
            free_addr(),
            free_addr(),
            free_addr()
        ),
    )
    .unwrap();
    let (_up, api) = up(&topo, dir.path());
    let d = dir.path();
    ok(fcli(
        d,
        &api,
        &["fn", "new", "hello", "--template", "http-sh"],
    ));
    for f in ["Dockerfile", "service.yaml", "handler.sh", "busybox"] {
        assert!(d.join("hello").join(f).is_file(), "{f}");
    }
    let deployed = ok(fcli(d, &api, &["fn", "deploy", "hello"]));
    assert!(deployed.contains("http://hello.default."), "{deployed}");
    // initial-scale 0: Ready with its image pre-warmed, and no pod.
    assert_eq!(live_pods(&api), 0);
    let out = fcli(d, &api, &["fn", "invoke", "hello", "--data", "world"]);
    assert_eq!(ok(out), "hello from hello (sh): world\n");
    let out = fcli(d, &api, &["fn", "invoke", "hello"]);
    assert_eq!(ok(out), "hello from hello (sh): no data\n");
    assert_eq!(live_pods(&api), 1, "scaled from zero to one");
    let described = poll("cold start in describe", Duration::from_secs(20), || {
        let out = ok(cli(&api, &["describe", "ksvc/hello"]));
        (!out.contains("Last Cold Start: <none>")).then_some(out)
    });
    for phase in ["schedule", "image", "rootfs", "process", "readiness"] {
        assert!(described.contains(&format!("  {phase} ")), "{described}");
    }
    // kubectl's words for Knative's kinds list them as Knative's CLI does.
    let ksvc = ok(cli(&api, &["get", "ksvc"]));
    assert!(
        ksvc.starts_with("NAME ") && ksvc.contains("LATESTREADY"),
        "{ksvc}"
    );
    assert!(ksvc.contains("hello-00001"), "{ksvc}");
    let rev = ok(cli(&api, &["get", "rev/hello-00001"]));
    assert!(
        rev.contains("CONFIG NAME") && rev.contains("hello"),
        "{rev}"
    );
    let metrics = Command::new("curl")
        .args(["-sf", &format!("{api}/metrics")])
        .output()
        .unwrap();
    let metrics = text(&metrics);
    let counts: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ferry_runtime_cold_start_seconds_count"))
        .collect();
    assert_eq!(counts.len(), 6, "five phases and the total: {counts:?}");
    let total = counts
        .iter()
        .find(|l| l.contains("phase=\"total\""))
        .unwrap();
    assert!(total.ends_with(" 1"), "{total}");
    deleted_promptly(&api, "hello");

    // http-rust: compiled on this host by `fn deploy` (cargo, static).
    ok(fcli(
        d,
        &api,
        &["fn", "new", "fast", "--template", "http-rust"],
    ));
    ok(fcli(d, &api, &["fn", "deploy", "fast"]));
    let out = fcli(d, &api, &["fn", "invoke", "fast", "-d", "x"]);
    assert_eq!(ok(out), "hello from fast (rust): x\n");
    deleted_promptly(&api, "fast");
}
