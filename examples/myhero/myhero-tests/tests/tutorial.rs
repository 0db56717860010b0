//! The tutorial's curl commands, as written (only the host:port changed to
//! the loopback port the test picked), against myhero-data and myhero-app in
//! direct mode; the contract's answers to bad input; SIGTERM exits cleanly.

use std::time::Duration;

use myhero_tests::{Service, curl, free_port, shell_words, start, temp_dir};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_myhero-stack");

fn tutorial(line: &str, from: &str, to: &str) -> (u16, Value) {
    let words = shell_words(&line.replace(from, to));
    assert_eq!(words[0], "curl");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let (status, body) = curl(&args);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn stop_cleanly(mut s: Service, what: &str) {
    s.proc.signal(Signal::SIGTERM);
    let status = s
        .proc
        .wait_timeout(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{what} ignored SIGTERM"));
    assert!(
        status.success(),
        "{what} exited with {status} after SIGTERM:\n{}",
        s.proc.stdout()
    );
    assert!(
        s.proc.stdout().contains("shutting down"),
        "{what} logs to stdout"
    );
}

#[test]
fn tutorial_curl_commands_work_against_data_and_app() {
    let dir = temp_dir();
    let data = start(
        BIN,
        "data",
        free_port(),
        &[
            ("myhero_data_key", "DevData".into()),
            (
                "myhero_data_dir",
                dir.path().join("data").display().to_string(),
            ),
        ],
        dir.path(),
    );
    let d = format!("localhost:{}", data.port);

    let (s, v) = tutorial(
        r#"curl -X GET -H "key: DevData" http://localhost:15000/options"#,
        "localhost:15000",
        &d,
    );
    assert_eq!(s, 200);
    let defaults: Vec<&str> = myhero_data::DEFAULT_OPTIONS.to_vec();
    assert_eq!(v, json!({ "options": defaults }));
    let (s, v) = tutorial(
        r#"curl -X POST -H "key: DevData" http://localhost:15000/vote/Deadpool"#,
        "localhost:15000",
        &d,
    );
    assert_eq!((s, v), (200, json!({ "result": "1" })));
    let (s, v) = tutorial(
        r#"curl -X GET -H "key: DevData" http://localhost:15000/results"#,
        "localhost:15000",
        &d,
    );
    assert_eq!((s, v), (200, json!({ "Deadpool": 1 })));

    let app = start(
        BIN,
        "app",
        free_port(),
        &[
            ("myhero_app_key", "DevApp".into()),
            ("myhero_data_key", "DevData".into()),
            ("myhero_data_server", format!("http://{d}")),
            ("myhero_app_mode", "direct".into()),
        ],
        dir.path(),
    );
    let a = format!("localhost:{}", app.port);
    let (s, v) = tutorial(
        r#"curl -X GET -H "key: DevApp" http://localhost:15001/options"#,
        "localhost:15001",
        &a,
    );
    assert_eq!((s, v["options"].as_array().map(Vec::len)), (200, Some(12)));
    let (s, v) = tutorial(
        r#"curl -X POST -H "key: DevApp" http://localhost:15001/vote/Superman"#,
        "localhost:15001",
        &a,
    );
    assert_eq!((s, v), (200, json!({ "result": "vote submitted" })));
    let (s, v) = tutorial(
        r#"curl -X GET -H "key: DevApp" http://localhost:15001/v2/results"#,
        "localhost:15001",
        &a,
    );
    assert_eq!(
        (s, v),
        (200, json!([["Deadpool", 1, 50.0], ["Superman", 1, 50.0]]))
    );
    let (_, health) = curl(&[&format!("http://{a}/health")]);
    assert_eq!(health, "Service up.");

    // The CORS headers the browser-side UI needs, on a preflight and an answer.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-i",
            "-X",
            "OPTIONS",
            "-H",
            "Origin: http://ui.example",
            "-H",
            "Access-Control-Request-Headers: key",
        ])
        .arg(format!("http://{a}/options"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(
        head.contains("access-control-allow-headers: content-type,authorization,key"),
        "{head}"
    );

    stop_cleanly(app, "myhero-app");
    stop_cleanly(data, "myhero-data");
}

#[test]
fn bad_input_gets_the_contract_answers() {
    let dir = temp_dir();
    let data = start(
        BIN,
        "data",
        free_port(),
        &[
            ("myhero_data_key", "SecureData".into()),
            (
                "myhero_data_dir",
                dir.path().join("d").display().to_string(),
            ),
        ],
        dir.path(),
    );
    let app = start(
        BIN,
        "app",
        free_port(),
        &[
            ("myhero_app_key", "SecureApp".into()),
            ("myhero_data_key", "SecureData".into()),
            ("myhero_data_srv", format!("127.0.0.1:{}", data.port)),
        ],
        dir.path(),
    );
    for (svc, good) in [(&data, "SecureData"), (&app, "SecureApp")] {
        let url = format!("{}/options", svc.url());
        let (s, body) = curl(&["-X", "GET", &url]);
        assert_eq!(
            (s, serde_json::from_str::<Value>(&body).unwrap()),
            (
                400,
                json!({ "Error": "Method requires authorization key." })
            )
        );
        let (s, body) = curl(&["-X", "GET", "-H", "key: wrong", &url]);
        assert_eq!(s, 401);
        assert!(
            serde_json::from_str::<Value>(&body).unwrap()["Error"].is_string(),
            "{body}"
        );
        let key = format!("key: {good}");
        let (s, body) = curl(&["-X", "PUT", "-H", &key, "-d", "{not json", &url]);
        assert_eq!(s, 400, "{body}");
        let msg = serde_json::from_str::<Value>(&body).unwrap()["Error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.starts_with(r#"Request body must be JSON like {"option": "Hero Name"}"#),
            "{msg}"
        );
        let (s, body) = curl(&["-X", "POST", "-H", &key, "-d", r#"{"option": "X"}"#, &url]);
        assert_eq!(s, 400, "POST /options wants a list: {body}");
    }
    // Options round trip through the app, which drops its cache on change.
    let (s, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "key: SecureApp",
        "-d",
        r#"{"option": "Thor"}"#,
        &format!("{}/options", app.url()),
    ]);
    assert_eq!(s, 201, "{body}");
    let (_, body) = curl(&["-H", "key: SecureApp", &format!("{}/options", app.url())]);
    assert!(body.contains("Thor"), "{body}");
    let (s, body) = curl(&[
        "-X",
        "DELETE",
        "-H",
        "key: SecureData",
        &format!("{}/options/Thor", data.url()),
    ]);
    assert_eq!(s, 202, "{body}");
    assert!(!body.contains("Thor"));
    // An unknown hero is recorded as voted, like the original.
    let (s, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "key: SecureApp",
        &format!("{}/vote/Nobody%20Special", app.url()),
    ]);
    assert_eq!(s, 200);
    let (_, body) = curl(&[&format!("{}/results", data.url())]);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "Nobody Special": 1 })
    );
    let long = "x".repeat(300);
    let (s, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "key: SecureData",
        &format!("{}/vote/{long}", data.url()),
    ]);
    assert_eq!(s, 400, "{body}");
    let (_, body) = curl(&[&format!("{}/hero_list", data.url())]);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["heros"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
    // Total-Votes header on /v2/results (an HTTP header name cannot hold a space).
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "-H", "key: SecureData"])
        .arg(format!("{}/v2/results", data.url()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .to_lowercase()
            .contains("total-votes: 1")
    );
}

#[test]
fn a_missing_key_variable_stops_the_service_with_a_clear_error() {
    let dir = temp_dir();
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("data")
        .env_clear()
        .env("myhero_data_dir", dir.path());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("myhero_data_key"), "{err}");
}
