//! The pipelines page's view: selection and paging of runs, commit-to-serving
//! times, steps with their logs, everything escaped.

use super::*;

fn run(id: u64, pipeline: &str) -> Run {
    Run {
        id,
        pipeline: pipeline.into(),
        git_ref: "main".into(),
        commit: "0123456789abcdef".into(),
        image_tag: "main-0123456".into(),
        images: [("web".to_string(), "main-0123456".to_string())].into(),
        state: StepState::Pending,
        started_ms: 1_000_000,
        steps: vec![],
    }
}

/// A run through every kind of step, healthy 42.5 s after it started.
fn delivered(id: u64) -> Run {
    let mut r = run(id, "web");
    let t = r.started_ms;
    r.step("checkout", StepState::Running, None, t);
    r.step("checkout", StepState::Succeeded, None, t + 500);
    r.step(
        "build web",
        StepState::Running,
        Some("uk/web:main".into()),
        t + 500,
    );
    r.step(
        "build web",
        StepState::Succeeded,
        Some("pushed".into()),
        t + 20_000,
    );
    r.step("replicate to us", StepState::Succeeded, None, t + 25_000);
    r.step(
        "gate prod",
        StepState::Waiting,
        Some("needs approval".into()),
        t + 25_000,
    );
    r.step("gate prod", StepState::Succeeded, None, t + 30_000);
    r.step("sync prod", StepState::Succeeded, None, t + 31_000);
    r.step("healthy prod", StepState::Running, None, t + 31_000);
    r.step("healthy prod", StepState::Succeeded, None, t + 42_500);
    r
}

#[test]
fn commit_to_serving_is_first_step_to_first_healthy() {
    let r = delivered(1);
    assert_eq!(commit_to_serving_ms(&r), Some(42_500));
    assert_eq!(duration(42_500), "42.5 s");
    assert_eq!(duration(850), "850 ms");
    assert_eq!(duration(185_000), "3 min 05 s");
    let mut pending = run(2, "web");
    pending.step("healthy dev", StepState::Running, None, 1_000_100);
    assert_eq!(commit_to_serving_ms(&pending), None, "not healthy yet");
}

#[test]
fn runs_are_newest_first_filtered_and_paged() {
    let runs: Vec<Run> = (1..=45)
        .map(|i| run(i, if i % 3 == 0 { "api" } else { "web" }))
        .collect();
    let (page, pages) = select(&runs, &RunFilter::default());
    assert_eq!(pages, 3);
    assert_eq!(page.len(), RUNS_PER_PAGE);
    assert_eq!(page[0].id, 45, "newest first");
    let f = RunFilter {
        pipeline: "api".into(),
        page: "2".into(),
    };
    let (page, pages) = select(&runs, &f);
    assert_eq!(pages, 1, "15 api runs fit one page");
    assert!(page.is_empty(), "page 2 of 1 is empty");
    let f = RunFilter {
        pipeline: "api".into(),
        page: "x".into(),
    };
    let (page, _) = select(&runs, &f);
    assert!(page.iter().all(|r| r.pipeline == "api") && page.len() == 15);
}

#[test]
fn the_list_shows_steps_states_and_serving_time() {
    let runs = [delivered(7)];
    let (page, pages) = select(&runs, &RunFilter::default());
    let html = pipelines(&["web".into()], &page, &RunFilter::default(), pages);
    assert!(
        html.contains("<a href=\"/ui/pipelines/runs/7\">#7</a>"),
        "{html}"
    );
    assert!(html.contains("<code>0123456</code>"));
    for step in [
        "checkout",
        "build web",
        "replicate to us",
        "gate prod",
        "sync prod",
        "healthy prod",
    ] {
        assert!(html.contains(&format!(">{step}</span>")), "{step}: {html}");
    }
    assert!(html.contains("<td class=\"num\">42.5 s</td>"), "{html}");
    assert!(html.contains("b-succeeded"));
    let empty = pipelines(&[], &[], &RunFilter::default(), 1);
    assert!(empty.contains("No pipeline runs yet"));
}

#[test]
fn a_runs_section_shows_each_steps_log_escaped() {
    let mut r = delivered(3);
    r.step(
        "build web",
        StepState::Failed,
        Some("<script>x</script>".into()),
        1_050_000,
    );
    let html = run_page(&r);
    assert!(html.contains("<h1>Run #3"), "{html}");
    assert!(html.contains("id=\"run\""));
    assert!(
        html.contains("Waiting: needs approval"),
        "the gate's log: {html}"
    );
    assert!(html.contains("Succeeded: pushed"));
    assert!(html.contains("Failed: &lt;script&gt;x&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    assert!(html.contains("<dt>Image web</dt>"));
    assert!(html.contains("42.5 s"));
}
