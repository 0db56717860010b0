//! Tests of the application page: tree, history and buttons per role.

use super::*;
use crate::testdata;
use ferry_delivery::health::Health;

fn entry(id: u64, rev: &str, outcome: Outcome) -> HistoryEntry {
    HistoryEntry {
        id,
        environment: "dev".into(),
        revision: rev.into(),
        images: vec![],
        outcome,
        message: None,
        trigger: "git".into(),
        started_ms: 1_700_000_000_000,
        duration_ms: 12,
    }
}

fn render(can: bool, name: &str) -> String {
    let app = testdata::app(name, &[("dev", "uk"), ("prod", "us")], Health::Healthy);
    let history = [
        entry(1, "aaaaaaaaaa", Outcome::Succeeded),
        entry(2, "bbbbbbbbbb", Outcome::Failed),
        // The current one (testdata's synced revision).
        entry(3, "0123456789abcdef", Outcome::Succeeded),
    ];
    let tree = crate::tree::build(&app.environments[0].objects, &Default::default());
    super::app(&AppPage {
        app: &app,
        env: &app.environments[0],
        tree: &tree,
        history: &history,
        can_sync: can,
        can_rollback: can,
        can_promote: can,
        csrf: "the-csrf",
    })
}

#[test]
fn a_deployer_sees_sync_and_rollback_to_earlier_good_syncs_only() {
    let html = render(true, "web");
    assert_eq!(html.matches("action=\"/ui/apps/web/sync\"").count(), 1);
    let rollbacks = html.matches("action=\"/ui/apps/web/rollback\"").count();
    assert_eq!(
        rollbacks, 1,
        "not to the failed sync nor to the current one"
    );
    assert!(html.contains("<input type=\"hidden\" name=\"id\" value=\"1\">"));
    assert_eq!(
        html.matches("name=\"csrf\" value=\"the-csrf\"").count(),
        2,
        "every form carries the CSRF token"
    );
    assert!(html.contains("2023-11-14 22:13:20"), "started time in UTC");
    assert!(html.contains("aria-current=\"page\">dev"), "{html}");
}

#[test]
fn a_viewer_sees_no_buttons() {
    let html = render(false, "web");
    assert!(!html.contains("<form"), "{html}");
    assert!(html.contains("Deployment"));
}

#[test]
fn hostile_names_in_the_tree_and_tabs_are_inert() {
    let html = render(true, "<script>x()</script>");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("/ui/apps/%3Cscript%3Ex%28%29%3C%2Fscript%3E/sync"));
}

#[test]
fn a_revision_waiting_for_approval_gets_a_promote_button_for_those_allowed() {
    let mut app = testdata::app("web", &[("prod", "us")], Health::Healthy);
    app.environments[0].waiting =
        Some("waiting for approval of 0123456: run `ferry app promote web --env prod`".into());
    fn page(app: &AppStatus, can: bool) -> String {
        super::app(&AppPage {
            app,
            env: &app.environments[0],
            tree: &[],
            history: &[],
            can_sync: can,
            can_rollback: can,
            can_promote: can,
            csrf: "the-csrf",
        })
    }
    let html = page(&app, true);
    assert_eq!(
        html.matches("action=\"/ui/apps/web/promote\"").count(),
        1,
        "{html}"
    );
    assert!(
        html.contains("data-confirm=\"Promote 0123456 to prod?\""),
        "{html}"
    );
    assert!(html.contains("href=\"/ui/apps/web/diff?env=prod\""));
    assert!(
        !page(&app, false).contains("/promote"),
        "no button for a viewer"
    );
    // Waiting for something else (health elsewhere): nothing to approve.
    app.environments[0].waiting = Some("waiting for 0123456 to be healthy in `dev`".into());
    assert!(!page(&app, true).contains("/promote"));
}
