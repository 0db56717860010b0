//! The overview's regions and registry sections through the whole router,
//! on the delivery pages' world: a real replication engine's queue per
//! rule (hidden from scoped tokens) and each region's state as the probes
//! recorded it; the live streams: the overview's map marking a region
//! unreachable and a pending copy, the registry page a pushed repository.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use ferry_api::Role;
use ferry_core::events::Event;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{HOST, World};

async fn open(w: &World, cookie: &str, query: &str) -> axum::body::Body {
    let req = Request::get(format!("/ui/events?{query}"))
        .header(header::HOST, HOST)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let resp = crate::router(w.ui.clone()).oneshot(req).await.unwrap();
    resp.into_body()
}

/// The stream's events until one contains `want`, within 10 s.
async fn until(body: &mut axum::body::Body, want: &str) -> String {
    let mut text = String::new();
    while !text.contains(want) {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .unwrap_or_else(|_| panic!("no `{want}` within 10 s: {text}"))
            .expect("the stream goes on")
            .unwrap();
        if let Some(d) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(d));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maps_regions_and_rules_follow_the_probes_and_the_queue_live() {
    let w = World::new().await;
    let stop = tokio_util::sync::CancellationToken::new();
    w.ui.start(stop.clone());
    let all = w.login(Role::Viewer, &[]).await;
    let mut stream = open(&w, &all, "view=overview").await;
    let states = w.ui.cfg().regions.clone().unwrap();
    states.record("us", Err("refused".into()), 1_700_000_000_000);
    let text = until(&mut stream, "to us (unreachable)").await;
    assert!(text.contains(r#""id":"delivery-map""#), "{text}");
    let task = ferry_replication::queue::Task::new(
        "uk-to-us",
        "team/web",
        "v1",
        ferry_replication::queue::Op::Copy,
    );
    w.ui.cfg()
        .replication
        .clone()
        .unwrap()
        .enqueue(task)
        .unwrap();
    until(&mut stream, "uk-to-us (1 pending)").await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_pages_follow_the_registrys_image_events() {
    let w = World::new().await;
    let stop = tokio_util::sync::CancellationToken::new();
    w.ui.start(stop.clone());
    let all = w.login(Role::Viewer, &[]).await;
    w.image("team/web", 1).await;
    let mut repos = open(&w, &all, "view=registry&page=1").await;
    let mut tags = open(&w, &all, "view=repo&name=team%2Fweb&page=1").await;
    let (digest, _) = w.image("team/new", 1).await;
    let pushed = |repository: &str| Event::ImagePushed {
        region: "uk".into(),
        repository: repository.into(),
        tag: Some("t00000".into()),
        digest: digest.to_string(),
    };
    w.ui.cfg()
        .events
        .as_ref()
        .unwrap()
        .publish(pushed("team/new"));
    let text = until(&mut repos, "team/new").await;
    assert!(text.contains(r#""id":"repos""#), "{text}");
    // A second tag of team/web (as `World::image` adds them), announced
    // as the registry's PUT does.
    let dir = w
        ._dir
        .path()
        .join("registry/store/repositories/team/web/_manifests/tags");
    std::fs::copy(dir.join("t00000"), dir.join("v2")).unwrap();
    w.ui.cfg()
        .events
        .as_ref()
        .unwrap()
        .publish(pushed("team/web"));
    let text = until(&mut tags, ">v2<").await;
    assert!(text.contains("2 tags"), "{text}");
    stop.cancel();
}

#[tokio::test]
async fn the_overview_shows_this_regions_replication_queue_per_rule() {
    let w = World::new().await;
    let replication = w.ui.cfg().replication.clone().unwrap();
    let task = ferry_replication::queue::Task::new(
        "uk-to-us",
        "team/web",
        "v1",
        ferry_replication::queue::Op::Copy,
    );
    replication.enqueue(task).unwrap();
    let all = w.login(Role::Viewer, &[]).await;
    let (_, page) = w.get("/ui", &all).await;
    let row = page
        .split("<th scope=\"row\">uk-to-us</th>")
        .nth(1)
        .unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("<td>us</td><td class=\"num\">1</td>"), "{row}");
    let scoped = w.login(Role::Viewer, &["web"]).await;
    let (_, page) = w.get("/ui", &scoped).await;
    assert!(page.contains("<section id=\"registry\">"), "{page}");
    assert!(
        !page.contains("uk-to-us</th>"),
        "replication state needs an unscoped token"
    );
}

#[tokio::test]
async fn the_overview_says_which_regions_answer_and_since_when_one_does_not() {
    let w = World::new().await;
    let all = w.login(Role::Viewer, &[]).await;
    let (_, page) = w.get("/ui", &all).await;
    let row = |page: &str, region: &str| {
        let row = page.split(&format!("<tr><td>{region}")).nth(1).unwrap();
        row.split("</tr>").next().unwrap().to_string()
    };
    assert!(row(&page, "uk").contains("b-up\">up</span> <span class=\"note\">this process"));
    assert!(row(&page, "us").contains("not checked yet"), "{page}");
    let states = w.ui.cfg().regions.clone().unwrap();
    states.record(
        "us",
        Err("http://10.0.0.9 unreachable: <refused>".into()),
        1_700_000_000_000,
    );
    let (_, page) = w.get("/ui", &all).await;
    let us = row(&page, "us");
    assert!(
        us.contains("unreachable</span> since 2023-11-14 22:13:20"),
        "{us}"
    );
    assert!(us.contains("&lt;refused&gt;"), "{us}");
    states.record("us", Ok("9.9.9".into()), 1_700_000_060_000);
    let (_, page) = w.get("/ui", &all).await;
    assert!(row(&page, "us").contains("<td>9.9.9</td>"), "{page}");
}
