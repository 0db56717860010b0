//! The diff page and the promote button through the whole router, with a
//! real token store and a real delivery engine (not started, no region
//! attached): who may see the diff and promote, CSRF, and that both reach
//! the engine.

use axum::http::StatusCode;
use ferry_api::Role;
use ferry_delivery::health::Health;

use crate::routes::tests::{World, location};

#[tokio::test]
async fn the_diff_page_shows_the_engines_fresh_comparison_per_environment() {
    let w = World::new();
    let (status, h, _) = w.get("/ui/apps/web/diff?env=dev", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&h),
        "/ui/login?next=%2Fui%2Fapps%2Fweb%2Fdiff%3Fenv%3Ddev"
    );
    let (cookie, _) = w.login(&w.token("alice", Role::Viewer)).await;
    let (status, _, page) = w.get("/ui/apps/web/diff?env=dev", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>Diff: live → desired</h1>"), "{page}");
    // The engine compared `dev` and said why it could not: its region is
    // not attached to this (unstarted) engine.
    assert!(
        page.contains("<section class=\"diff-env\"><h2>dev"),
        "{page}"
    );
    assert!(page.contains("is not attached to the engine"), "{page}");
    let (status, _, _) = w.get("/ui/apps/web/diff?env=nope", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = w.get("/ui/apps/ghost/diff", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_viewer_cannot_promote_and_a_deployer_reaches_the_engine() {
    let w = World::new();
    let (status, h, _) = w.post("/ui/apps/web/promote", None, "csrf=x").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/ui/login?next=%2Fui");

    let (cookie, csrf) = w.login(&w.token("alice", Role::Viewer)).await;
    let form = format!("csrf={csrf}&env=dev");
    let (status, _, page) = w.post("/ui/apps/web/promote", Some(&cookie), &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("this needs deployer"), "{page}");

    let (cookie, csrf) = w.login(&w.token("dora", Role::Deployer)).await;
    for bad in ["env=dev".to_string(), "csrf=wrong&env=dev".to_string()] {
        let (status, _, page) = w.post("/ui/apps/web/promote", Some(&cookie), &bad).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{bad}");
        assert!(page.contains("CSRF"), "{page}");
    }
    // Allowed and checked: the engine answers that nothing waits (its
    // gate has not run), as `ferry app promote` would be told.
    let form = format!("csrf={csrf}&env=dev");
    let (status, _, page) = w.post("/ui/apps/web/promote", Some(&cookie), &form).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("has no revision waiting for approval"),
        "{page}"
    );

    let audit = std::fs::read_to_string(w._dir.path().join("auth/audit.log")).unwrap();
    assert!(
        audit.contains(r#""object":"/ui/apps/web/promote","outcome":"forbidden""#),
        "{audit}"
    );
}

#[tokio::test]
async fn a_deployer_promotes_the_revision_waiting_at_a_manual_gate() {
    let w = World::new();
    let mut status = crate::testdata::app("web", &[("dev", "uk")], Health::Healthy);
    status.environments[0].waiting =
        Some("waiting for approval of 0123456: run `ferry app promote web --env dev`".into());
    w.ui.cfg().engine.put_status(status);

    let (viewer, _) = w.login(&w.token("alice", Role::Viewer)).await;
    let (_, _, page) = w.get("/ui/apps/web?env=dev", Some(&viewer)).await;
    assert!(page.contains("waiting for approval"), "{page}");
    assert!(!page.contains("/promote\""), "no button for a viewer");

    let (cookie, csrf) = w.login(&w.token("dora", Role::Deployer)).await;
    let (_, _, page) = w.get("/ui/apps/web?env=dev", Some(&cookie)).await;
    assert!(page.contains("action=\"/ui/apps/web/promote\""), "{page}");
    let form = format!("csrf={csrf}&env=dev");
    let (status, h, page) = w.post("/ui/apps/web/promote", Some(&cookie), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(location(&h), "/ui/apps/web?env=dev");
    let audit = std::fs::read_to_string(w._dir.path().join("auth/audit.log")).unwrap();
    assert!(
        audit.contains(r#""object":"/ui/apps/web/promote","outcome":"allowed","status":303"#),
        "{audit}"
    );
}
