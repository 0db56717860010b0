//! The overview's regions and registry sections through the whole router,
//! on the delivery pages' world: a real replication engine's queue per
//! rule (hidden from scoped tokens) and each region's state as the probes
//! recorded it.

use ferry_api::Role;

use super::World;

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
