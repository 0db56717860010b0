//! End-to-end tests of `ferry up` and `ferry validate` through the real
//! binary: health within 2 s, Prometheus metrics, clean Ctrl-C, exit codes.

use std::process::Command;
use std::time::{Duration, Instant};

use ferry_test_support::{Proc, free_addr, http_ok, poll, temp_dir, topology_yaml};
use nix::sys::signal::Signal;

/// The binary, writing its client config (admin tokens) under `dir`, not
/// into the user's.
fn ferry_in(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.env("FERRY_CONFIG", dir.join("client-config.yaml"));
    cmd
}

#[test]
fn up_serves_health_and_metrics_and_stops_cleanly_on_sigint() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk", "shanghai"], dir.path())).unwrap();
    let mut cmd = ferry_in(dir.path());
    cmd.args(["up", "-f"]).arg(&topo).args(["-o", "json"]);
    let started = Instant::now();
    let mut up = Proc::spawn("ferry-up", cmd, dir.path());
    let endpoints: serde_json::Value = poll("endpoint table", Duration::from_secs(10), || {
        serde_json::from_str(&up.stdout()).ok()
    });
    let api = endpoints
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["region"] == "uk" && e["listener"] == "api")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    poll("healthz", Duration::from_secs(2), || {
        http_ok(&format!("{api}/healthz")).then_some(())
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    let metrics = reqwest::blocking::get(format!("{api}/metrics")).unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let body = metrics.text().unwrap();
    assert!(body.contains("# TYPE ferry_build_info gauge"), "{body}");
    assert!(body.trim_end().ends_with("# EOF"));

    up.signal(Signal::SIGINT);
    let status = up
        .wait_timeout(Duration::from_secs(10))
        .expect("ferry exits after SIGINT");
    assert!(status.success(), "exit status {status:?}\n{}", up.stderr());
    assert!(!up.group_alive(), "processes left in ferry's group");
}

#[test]
fn up_with_no_config_uses_the_builtin_local_region() {
    // The built-in region's fixed ports (7070, 5000, 8080) may be taken on
    // the machine; --api/--registry/--gateway move them, port 0 picks free
    // ones and the endpoint table says which.
    let dir = temp_dir();
    let mut cmd = ferry_in(dir.path());
    cmd.args(["up", "-o", "json"])
        .args(["--api", "127.0.0.1:0", "--registry", "127.0.0.1:0"])
        .args(["--gateway", "127.0.0.1:0"])
        .env("FERRY_DATA_DIR", dir.path());
    let start = Instant::now();
    let mut up = Proc::spawn("ferry-up-default", cmd, dir.path());
    let endpoints: serde_json::Value = poll("endpoint table", Duration::from_secs(10), || {
        serde_json::from_str(&up.stdout()).ok()
    });
    let rows = endpoints.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{endpoints}");
    assert!(rows.iter().all(|e| e["region"] == "local"), "{endpoints}");
    let api = rows.iter().find(|e| e["listener"] == "api").unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!api.ends_with(":7070") && !api.ends_with(":0"), "{api}");
    poll("default healthz", Duration::from_secs(2), || {
        http_ok(&format!("{api}/healthz")).then_some(())
    });
    assert!(start.elapsed() <= Duration::from_secs(5));
    up.signal(Signal::SIGTERM);
    assert!(
        up.wait_timeout(Duration::from_secs(10))
            .expect("exits")
            .success()
    );
}

#[test]
fn builtin_listener_flags_need_the_builtin_topology() {
    let dir = temp_dir();
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["uk"], dir.path())).unwrap();
    let out = ferry_in(dir.path())
        .args(["up", "-f"])
        .arg(&topo)
        .args(["--api", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api") && err.contains("--config"), "{err}");
}

#[test]
fn port_in_use_is_reported_with_region_and_listener() {
    let dir = temp_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: {}, registry: {}, gateway: {busy}}}\n",
        free_addr(),
        free_addr()
    );
    let topo = dir.path().join("t.yaml");
    std::fs::write(&topo, text).unwrap();
    let out = ferry_in(dir.path())
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .arg("-f")
        .arg(&topo)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("region `uk`") && err.contains("gateway listener"),
        "{err}"
    );
}

#[test]
fn validate_reports_misspelt_field_with_document_and_suggestion() {
    let dir = temp_dir();
    let file = dir.path().join("topo.yaml");
    let mut text = topology_yaml(&["uk"], dir.path());
    text.push_str("---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {regoin: uk}\n");
    std::fs::write(&file, text).unwrap();
    let out = ferry_in(dir.path())
        .arg("validate")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("document 1"), "{err}");
    assert!(err.contains("spec.regoin"), "{err}");
    assert!(err.contains("did you mean `region`?"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn validate_accepts_a_good_file_and_rejects_a_missing_one() {
    let dir = temp_dir();
    let file = dir.path().join("topo.yaml");
    std::fs::write(&file, topology_yaml(&["uk", "shanghai"], dir.path())).unwrap();
    let out = ferry_in(dir.path())
        .arg("validate")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 region(s)"));
    let out = ferry_in(dir.path())
        .args(["validate", "-f", "/nonexistent/topo.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
