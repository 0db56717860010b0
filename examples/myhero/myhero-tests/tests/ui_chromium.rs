//! The UI page in headless Debian chromium: it lists the options from
//! myhero-app, records a vote in myhero-data when a hero is clicked, shows
//! the results, and the test saves a screenshot. Also checks each version's
//! heading as served.

use std::path::PathBuf;

use myhero_tests::cdp::{Browser, chromium_bin};
use myhero_tests::{curl, data_count, free_port, start, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_myhero-stack");

#[test]
fn the_ui_in_chromium_lists_options_votes_and_shows_results() {
    chromium_bin();
    let dir = temp_dir();
    let d = start(
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
    let a = start(
        BIN,
        "app",
        free_port(),
        &[
            ("myhero_app_key", "SecureApp".into()),
            ("myhero_data_key", "SecureData".into()),
            ("myhero_data_srv", format!("127.0.0.1:{}", d.port)),
        ],
        dir.path(),
    );
    let ui = start(
        BIN,
        "ui",
        free_port(),
        &[
            ("myhero_app_server", a.url()),
            ("myhero_app_key", "SecureApp".into()),
        ],
        dir.path(),
    );

    let mut browser = Browser::start(dir.path());
    browser.navigate(&format!("{}/", ui.url()));
    browser.wait_for(
        "the v1 heading",
        "document.getElementById('heading')?.textContent ?? ''",
        |v| v == "Make ONE voice heard!!!",
    );
    let heroes = browser.wait_for(
        "the options to be listed",
        "[...document.querySelectorAll('button.hero')].map(b => b.dataset.hero)",
        |v| v.as_array().is_some_and(|a| a.len() == 12),
    );
    assert!(
        heroes.as_array().unwrap().iter().any(|h| h == "Deadpool"),
        "{heroes}"
    );

    browser.eval("[...document.querySelectorAll('button.hero')].find(b => b.dataset.hero === 'Deadpool').click()");
    browser.wait_for(
        "the vote to be confirmed",
        "document.getElementById('status').textContent",
        |v| v.as_str().is_some_and(|s| s.contains("vote submitted")),
    );
    let rows = browser.wait_for(
        "the results to show the vote",
        "[...document.querySelectorAll('#results tr.result')].map(r => [...r.cells].map(c => c.textContent))",
        |v| v.as_array().is_some_and(|a| !a.is_empty()),
    );
    assert_eq!(rows, serde_json::json!([["Deadpool", "1", "100"]]));
    assert_eq!(
        data_count(&d.url(), "Deadpool"),
        Some(1),
        "the vote reached myhero-data"
    );

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("myhero-ui.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    eprintln!("screenshot saved to {}", shot.display());
    assert!(
        ui.proc.stdout().contains("uri=/"),
        "the UI logs its requests to stdout"
    );
}

#[test]
fn each_ui_version_serves_its_heading() {
    let dir = temp_dir();
    for (v, heading) in [
        ("v1", "Make ONE voice heard!!!"),
        ("v2", "Make TWO voices heard!!!"),
        ("v3", "Make THREE voices heard!!!"),
    ] {
        let ui = start(
            BIN,
            "ui",
            free_port(),
            &[
                ("myhero_app_server", "http://127.0.0.1:9".into()),
                ("myhero_app_key", "SecureApp".into()),
                ("myhero_ui_version", v.into()),
            ],
            dir.path(),
        );
        let (status, body) = curl(&[&ui.url()]);
        assert_eq!(status, 200);
        assert!(
            body.contains(&format!("<h1 id=\"heading\">{heading}</h1>")),
            "{v}: {body}"
        );
    }
}
