//! The UI page in headless Debian chromium: it lists the options from
//! myhero-app, records a vote in myhero-data when a hero is clicked, shows
//! the results, and the test saves a screenshot. Run against the Rust
//! myhero-ui and against the Dockerfile build (busybox httpd, built by
//! ferry-build, run from its unpacked root filesystem). Also checks each
//! version's heading as served.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_test_support::cdp::{Browser, chromium_bin};
use myhero_tests::{Proc, Service, curl, data_count, free_port, poll, start, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_myhero-stack");

/// myhero-data and myhero-app (direct mode) on loopback.
fn backend(dir: &Path) -> (Service, Service) {
    let d = start(
        BIN,
        "data",
        free_port(),
        &[
            ("myhero_data_key", "SecureData".into()),
            ("myhero_data_dir", dir.join("d").display().to_string()),
        ],
        dir,
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
        dir,
    );
    (d, a)
}

/// Loads the UI at `ui_url` in chromium, votes for Deadpool by clicking,
/// checks the results table and myhero-data, and saves `shot`.
fn vote_in_browser(dir: &Path, ui_url: &str, data_url: &str, shot: &str) {
    let mut browser = Browser::start(dir, 1024, 900);
    browser.navigate(&format!("{ui_url}/"));
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
        data_count(data_url, "Deadpool"),
        Some(1),
        "the vote reached myhero-data"
    );

    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(shot);
    browser.screenshot(&path);
    assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    eprintln!("screenshot saved to {}", path.display());
}

#[test]
fn the_ui_in_chromium_lists_options_votes_and_shows_results() {
    chromium_bin();
    let dir = temp_dir();
    let (d, a) = backend(dir.path());
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
    vote_in_browser(dir.path(), &ui.url(), &d.url(), "myhero-ui.png");
    assert!(
        ui.proc.stdout().contains("uri=/"),
        "the UI logs its requests to stdout"
    );
}

#[test]
fn the_dockerfile_ui_built_by_ferry_works_in_chromium() {
    chromium_bin();
    let dir = temp_dir();
    // The context build-images.sh assembles.
    let ctx = dir.path().join("context");
    let ui_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../myhero-ui");
    std::fs::create_dir_all(&ctx).unwrap();
    for (from, to) in [
        (ui_dir.join("docker/Dockerfile"), "Dockerfile"),
        (ui_dir.join("docker/entrypoint.sh"), "entrypoint.sh"),
        (ui_dir.join("static/index.html"), "index.html"),
        (PathBuf::from("/bin/busybox"), "busybox"),
    ] {
        std::fs::copy(&from, ctx.join(to)).unwrap_or_else(|e| {
            panic!("{}: {e} (busybox-static: scripts/setup.sh)", from.display())
        });
    }
    let opts = ferry_build::BuildOptions {
        context: ctx.clone(),
        dockerfile: None,
        build_args: Default::default(),
        target: None,
        cache_dir: dir.path().join("build"),
        no_cache: false,
        allow: Default::default(),
    };
    let built = ferry_build::build(&opts, &|_| {}).expect("ferry-build builds the UI Dockerfile");
    let image = built.store.image(&built.digest()).unwrap();
    let root = dir.path().join("rootfs");
    ferry_image::rootfs::unpack_into(&built.store, &image, &root, &Default::default()).unwrap();

    let (d, a) = backend(dir.path());
    let port = free_port();
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(&root)
        .args(["/bin/busybox", "sh", "/entrypoint.sh"])
        .env_clear()
        .envs([
            ("myhero_app_server", format!("{}/", a.url())),
            ("myhero_app_key", "SecureApp".into()),
            ("myhero_ui_version", "v1".into()),
            ("PORT", port.to_string()),
        ]);
    let ui = Proc::spawn("ui-dockerfile", cmd, dir.path());
    let url = format!("http://127.0.0.1:{port}");
    poll(
        "the busybox UI to answer",
        std::time::Duration::from_secs(20),
        || {
            assert!(ui.group_alive(), "the UI image exited:\n{}", ui.stdout());
            ferry_test_support::http_ok(&url).then_some(())
        },
    );
    let (_, js) = curl(&[&format!("{url}/config.js")]);
    assert_eq!(
        js.trim(),
        format!(
            r#"window.MYHERO = {{"app_server":"{}","app_key":"SecureApp","version":"v1"}};"#,
            a.url()
        )
    );
    vote_in_browser(dir.path(), &url, &d.url(), "myhero-ui-dockerfile.png");
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
        let (status, js) = curl(&[&format!("{}/config.js", ui.url())]);
        assert_eq!(status, 200);
        assert!(js.contains(&format!("\"version\":\"{v}\"")), "{js}");
    }
}
