//! Fetching over smart HTTP: a real git server (git's own `upload-pack
//! --stateless-rpc` behind a small axum front, as a git host runs it) on
//! loopback. A public repository fetches every branch; a private one
//! answers 401 without credentials, and the Application's credentials reach
//! the transport, which refuses to send them in clear text over `http://`
//! (they are sent over `https://` only).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_delivery::source::{FetchOptions, GitCache};
use ferry_test_support::git;

const AUTH: &str = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret

fn upload_pack(repo: &Path, headers: &HeaderMap, advertise: bool, input: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("git");
    cmd.args(["upload-pack", "--stateless-rpc"]);
    if advertise {
        cmd.arg("--advertise-refs");
    }
    if let Some(p) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = cmd
        .arg(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn denied(headers: &HeaderMap, public: bool) -> Option<Response> {
    let ok = public
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(AUTH);
    (!ok).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "",
        )
            .into_response()
    })
}

async fn refs(State(repo): State<PathBuf>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&headers, uri.path().starts_with("/public")) {
        return r;
    }
    let out = tokio::task::spawn_blocking(move || {
        let v2 = headers.get("git-protocol").is_some();
        let mut body = Vec::new();
        if !v2 {
            body.extend_from_slice(b"001e# service=git-upload-pack\n0000");
        }
        body.extend(upload_pack(&repo, &headers, true, b""));
        body
    })
    .await
    .unwrap();
    (
        [(
            header::CONTENT_TYPE,
            "application/x-git-upload-pack-advertisement",
        )],
        out,
    )
        .into_response()
}

async fn pack(State(repo): State<PathBuf>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = denied(&headers, uri.path().starts_with("/public")) {
        return r;
    }
    let out = tokio::task::spawn_blocking(move || upload_pack(&repo, &headers, false, &body))
        .await
        .unwrap();
    (
        [(header::CONTENT_TYPE, "application/x-git-upload-pack-result")],
        out,
    )
        .into_response()
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_http_fetch_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("a.yaml"), "a: 1\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "one"]);
    git(&repo, &["branch", "dev"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let app = Router::new()
        .route("/repo.git/info/refs", get(refs))
        .route("/repo.git/git-upload-pack", post(pack))
        .route("/public.git/info/refs", get(refs))
        .route("/public.git/git-upload-pack", post(pack))
        .with_state(repo.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let fetch = |path: &str, creds: Option<(&str, &str)>, cache: &str| {
        let cache = GitCache::new(&dir.path().join(cache));
        let url = format!("{base}/{path}");
        let creds = creds.map(|(u, p)| (u.to_string(), p.to_string()));
        tokio::task::spawn_blocking(move || {
            cache.fetch(
                &url,
                FetchOptions {
                    credentials: creds,
                    depth: None,
                },
            )
        })
    };
    // Every fetch gets a deadline: a transport waiting for a person fails
    // the test instead of hanging it.
    let fetch = |path: &str, creds: Option<(&str, &str)>, cache: &str| {
        let task = fetch(path, creds, cache);
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(60), task)
                .await
                .expect("the fetch finished within 60 s")
        }
    };
    let refs = fetch("public.git", None, "c0").await.unwrap().unwrap();
    assert_eq!(refs.branches.get("master"), Some(&head));
    assert_eq!(refs.branches.get("dev"), Some(&head));
    let err = fetch("repo.git", None, "c1")
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("repo.git"), "{err}");
    assert!(
        err.contains("HTTP 401") && err.contains("spec.source.credentials"),
        "a 401 without credentials is a clear error: {err}"
    );
    let err = fetch("repo.git", Some(("alice", "s3cret")), "c2")
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("clear text"), "{err}");
    server.abort();
}

/// A server that answers every request 401, as a private repository does.
async fn always_401() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().fallback(|| async {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, server)
}

/// The child half of `a_401_never_prompts_even_on_a_terminal`: fetches
/// `FERRY_TEST_401_URL` without credentials and prints the error.
#[test]
#[ignore = "run by a_401_never_prompts_even_on_a_terminal in a pty"]
fn fetch_401_child() {
    let Some(url) = std::env::var_os("FERRY_TEST_401_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let err = GitCache::new(dir.path())
        .fetch(url.to_str().unwrap(), FetchOptions::default())
        .unwrap_err();
    println!("FETCH-ERROR: {err}");
}

/// `bash scripts/test.sh` in a terminal used to stop here for good: the git
/// transport opened /dev/tty and printed `Username for http://...`. The
/// fetch runs in a child whose controlling terminal is a pty (`script`)
/// and whose stdin is a pipe nobody writes: a prompt would block it, so the
/// deadline fails the test; a transport that never prompts answers at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_401_never_prompts_even_on_a_terminal() {
    let (base, server) = always_401().await;
    let me = std::env::current_exe().unwrap();
    let cmd = format!(
        "{} --exact fetch_401_child --ignored --nocapture --test-threads=1",
        me.display()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("FERRY_TEST_401_URL", format!("{base}/private.git"))
        // No helper may answer for the user either.
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("script(1) from util-linux runs the child in a pty");
    let _stdin = child.stdin.take(); // held open, never written
    let mut stdout = child.stdout.take().unwrap();
    let read = async {
        use tokio::io::AsyncReadExt;
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        out
    };
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("the fetch waited for a person: it must fail at once instead");
    let status = child.wait().await.unwrap();
    assert!(status.success(), "child failed: {out}");
    assert!(
        !out.contains("Username for"),
        "the transport prompted: {out}"
    );
    assert!(
        out.contains("FETCH-ERROR:") && out.contains("HTTP 401"),
        "the 401 is a clear error: {out}"
    );
    server.abort();
}

#[test]
fn shallow_fetch_keeps_only_the_requested_depth() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    for i in 0..3 {
        std::fs::write(repo.join("a.yaml"), format!("a: {i}\n")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("c{i}")]);
    }
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());
    let history = |cache: &str, depth: Option<u32>| {
        let cache = GitCache::new(&dir.path().join(cache));
        let opts = FetchOptions {
            credentials: None,
            depth: depth.and_then(std::num::NonZeroU32::new),
        };
        let refs = cache.fetch(&url, opts).unwrap();
        assert_eq!(refs.branches.get("master"), Some(&head));
        cache.log(&url, &head, 10).unwrap().len()
    };
    assert_eq!(history("full", None), 3);
    assert_eq!(history("shallow", Some(1)), 1);
}
