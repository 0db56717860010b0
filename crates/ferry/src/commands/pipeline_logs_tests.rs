//! Tests of which log lines `ferry pipeline logs` prints on each read of a
//! run: prefixed and in time order, each once while following, dropped
//! ones counted, one step alone with `--step`.

use super::*;
use ferry_delivery::pipeline::STEP_LOG_LINES;

fn run() -> Run {
    Run {
        id: 1,
        pipeline: "web".into(),
        git_ref: "master".into(),
        commit: "0123456789".into(),
        image_tag: "m-0123456".into(),
        images: Default::default(),
        state: StepState::Running,
        started_ms: 0,
        steps: Vec::new(),
    }
}

fn log(r: &mut Run, step: &str, text: &str, ms: u64) {
    let s = r.steps.iter_mut().find(|s| s.name == step).unwrap();
    s.log_line(text, ms);
}

#[test]
fn lines_are_prefixed_in_time_order_and_printed_once_while_following() {
    let mut r = run();
    r.step("checkout", StepState::Running, None, 1);
    r.step("checkout", StepState::Succeeded, None, 2);
    r.step("build web", StepState::Running, Some("reg/web:m".into()), 3);
    log(&mut r, "build web", "STEP 1/2: FROM scratch", 4);
    let mut printed = Printed::default();
    assert_eq!(
        next_lines(&r, None, &mut printed),
        [
            "[checkout] Running",
            "[checkout] Succeeded",
            "[build web] Running: reg/web:m",
            "[build web] STEP 1/2: FROM scratch",
        ]
    );
    assert!(next_lines(&r, None, &mut printed).is_empty(), "nothing new");
    log(&mut r, "build web", "STEP 2/2: COPY a /a", 5);
    r.step(
        "gate dev",
        StepState::Waiting,
        Some("manual approval".into()),
        5,
    );
    assert_eq!(
        next_lines(&r, None, &mut printed),
        [
            "[build web] STEP 2/2: COPY a /a",
            "[gate dev] Waiting: manual approval"
        ]
    );
}

#[test]
fn one_step_alone_and_dropped_lines_are_counted() {
    let mut r = run();
    r.step("build web", StepState::Running, None, 1);
    r.step("checkout", StepState::Succeeded, None, 1);
    let mut printed = Printed::default();
    assert_eq!(
        next_lines(&r, Some("build web"), &mut printed),
        ["Running"],
        "no prefix, no other step"
    );
    for i in 0..STEP_LOG_LINES + 3 {
        log(&mut r, "build web", &format!("line {i}"), 2 + i as u64);
    }
    let lines = next_lines(&r, Some("build web"), &mut printed);
    assert_eq!(lines[0], "… 3 earlier lines dropped", "{lines:?}");
    assert_eq!(lines[1], "line 3");
    assert_eq!(lines.len(), 1 + STEP_LOG_LINES);
    assert_eq!(
        lines.last().unwrap(),
        &format!("line {}", STEP_LOG_LINES + 2)
    );
    assert!(next_lines(&r, Some("build web"), &mut printed).is_empty());
}
