//! The pods pages through the whole router over a real runtime (runc) and
//! a busybox pod that talks: its page and list, the log followed over the
//! event stream and resumed by `Last-Event-ID`, exec for an admin, and a
//! viewer that sees no exec form and is refused (403) when posting anyway.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ferry_api::Role;
use ferry_runtime::kinds::Kind;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::routes::tests::World;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: talker, namespace: default}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: tools:1\n    command: [sh, -c, 'echo hello from talker; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done']\n";

/// A runtime with the busybox image `tools:1`; shut down on drop.
struct Rt(ferry_runtime::Runtime);

impl Drop for Rt {
    fn drop(&mut self) {
        let rt = self.0.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(30), rt.shutdown()).await;
            })
        });
    }
}

async fn runtime(dir: &std::path::Path) -> Rt {
    let cfg = ferry_runtime::RuntimeConfig::new(dir.join("runtime"));
    let oci = ferry_runtime::OciImages::open(cfg.data_dir.join("images")).unwrap();
    ferry_image::build::busybox::busybox_image()
        .unwrap()
        .cmd(["sleep", "3600"])
        .build(&oci.store, Some("tools:1"))
        .unwrap();
    Rt(ferry_runtime::Runtime::start(cfg).await.unwrap())
}

async fn poll<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the event stream `resp` until `done` accepts what came so far.
async fn read_until(resp: axum::response::Response, done: impl Fn(&str) -> bool) -> String {
    let mut body = resp.into_body();
    let mut text = String::new();
    while !done(&text) {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .unwrap();
        if let Some(d) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(d));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_log_events_and_exec_with_the_apis_rights() {
    let mut w = World::new();
    let rt = runtime(w._dir.path()).await;
    let mut cfg = w.ui.cfg().clone();
    cfg.runtime = Some(rt.0.clone());
    w.ui = crate::Ui::new(cfg).unwrap();
    rt.0.apply(&[("pod.yaml".into(), POD.into())]).unwrap();
    poll("the pod running", async || {
        let p = rt.0.get(Kind::Pod, "default", "talker").ok()?;
        (p["status"]["phase"] == "Running").then_some(())
    })
    .await;

    let (admin, csrf) = w.login(&w.token("ada", Role::Admin)).await;
    let (_, _, list) = w.get("/ui/pods", Some(&admin)).await;
    assert!(
        list.contains("<a href=\"/ui/pods/default/talker\">talker</a>"),
        "{list}"
    );
    let page = poll("the first lines in the page's log", async || {
        let (_, _, page) = w.get("/ui/pods/default/talker", Some(&admin)).await;
        page.contains("tick 2").then_some(page)
    })
    .await;
    assert!(page.contains("hello from talker"), "{page}");
    assert!(
        page.contains("<h2>Events</h2>") && page.contains("Started"),
        "{page}"
    );
    assert!(page.contains("action=\"/ui/pods/default/talker/exec\""));
    let since: u64 = page
        .split("&amp;since=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the offset the stream starts at");

    // Following: new lines arrive, each event's id the log's size.
    let follow = |from: &str| {
        Request::get(format!(
            "/ui/pods/default/talker/logs?container=app&since={from}"
        ))
        .header(header::HOST, "127.0.0.1:7070")
        .header(header::COOKIE, &admin)
        .body(Body::empty())
        .unwrap()
    };
    let resp = crate::router(w.ui.clone())
        .oneshot(follow(&since.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let text = read_until(resp, |t| t.contains("event: log") && t.contains("\nid: ")).await;
    assert!(text.contains("tick "), "{text}");
    assert!(
        !text.contains("hello from talker"),
        "the stream starts after the page's tail"
    );
    let id: u64 = text
        .split("id: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(id > since, "{id} after {since}");
    // A reconnect resumes at Last-Event-ID, not at `since`.
    let mut again = follow("0");
    again
        .headers_mut()
        .insert("last-event-id", id.to_string().parse().unwrap());
    let resp = crate::router(w.ui.clone()).oneshot(again).await.unwrap();
    let text = read_until(resp, |t| t.contains("\nid: ")).await;
    assert!(!text.contains("hello from talker"), "{text}");

    let (status, _, out) = w
        .post(
            "/ui/pods/default/talker/exec",
            Some(&admin),
            &format!("csrf={csrf}&container=app&command=echo+%3Cexec%3E+works"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(out.contains("Exit code <strong>0</strong>"), "{out}");
    assert!(out.contains("&lt;exec&gt; works\n</pre>"), "{out}");

    let (viewer, vcsrf) = w.login(&w.token("vic", Role::Viewer)).await;
    let (_, _, page) = w.get("/ui/pods/default/talker", Some(&viewer)).await;
    assert!(page.contains("hello from talker"), "a viewer reads logs");
    assert!(
        !page.contains("/exec\"") && !page.contains("Run a command"),
        "{page}"
    );
    let (status, _, out) = w
        .post(
            "/ui/pods/default/talker/exec",
            Some(&viewer),
            &format!("csrf={vcsrf}&command=id"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{out}");
    assert!(out.contains("this needs admin"), "{out}");
    let (status, _, _) = w
        .post(
            "/ui/pods/default/talker/exec",
            Some(&admin),
            "csrf=wrong&command=id",
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the CSRF token first");
    let audit = std::fs::read_to_string(w._dir.path().join("auth/audit.log")).unwrap();
    assert!(
        audit.contains(r#""identity":"vic","role":"viewer","verb":"POST","object":"/ui/pods/default/talker/exec","outcome":"forbidden""#),
        "{audit}"
    );
    let (status, _, _) = w.get("/ui/pods/default/nobody", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
