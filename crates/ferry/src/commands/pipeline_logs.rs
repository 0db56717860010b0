//! `ferry pipeline logs [RUN] [--step NAME] [-f]`: a pipeline run's step
//! logs (what the web UI's run page shows), from
//! `GET /api/v1/pipelines/runs/{id}` — the route the run's page follows the
//! same policy of: a token sees the runs of the pipelines whose
//! application it reaches. Each line is prefixed `[step]` (not with
//! `--step`, which prints that step's lines alone); with `-f` the run is
//! read again every [`POLL`] and only lines not printed yet are printed,
//! until the run succeeds or fails (like `kubectl logs -f`).
//!
//! A step keeps its last lines only (`ferry_delivery::pipeline::
//! STEP_LOG_LINES`); lines dropped before they could be printed are
//! counted in one `…` line rather than silently skipped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use ferry_delivery::pipeline::{Run, StepState};

use super::BadInput;
use crate::client::Client;

/// How often `-f` reads the run again.
pub const POLL: Duration = Duration::from_millis(300);

/// How many lines of each step were printed (counting dropped ones).
#[derive(Debug, Default)]
pub struct Printed(BTreeMap<String, u64>);

/// The lines of `run` not printed yet (only step `step`'s, unprefixed,
/// when given), oldest first, and marks them printed.
pub fn next_lines(run: &Run, step: Option<&str>, printed: &mut Printed) -> Vec<String> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for s in run
        .steps
        .iter()
        .filter(|s| step.is_none_or(|n| n == s.name))
    {
        let prefix = match step {
            Some(_) => String::new(),
            None => format!("[{}] ", s.name),
        };
        let total = s.log_dropped + s.log.len() as u64;
        let done = printed.0.entry(s.name.clone()).or_insert(0);
        if *done < s.log_dropped {
            let lost = s.log_dropped - *done;
            let at = s.log.first().map_or(0, |l| l.ms);
            out.push((at, format!("{prefix}… {lost} earlier lines dropped")));
            *done = s.log_dropped;
        }
        let from = usize::try_from(*done - s.log_dropped).unwrap_or(usize::MAX);
        for l in s.log.iter().skip(from) {
            out.push((l.ms, format!("{prefix}{}", l.text)));
        }
        *done = (*done).max(total);
    }
    // Stable: a step's own lines keep their order.
    out.sort_by_key(|(ms, _)| *ms);
    out.into_iter().map(|(_, l)| l).collect()
}

/// Whether `run` is over (`-f` stops).
fn ended(run: &Run) -> bool {
    matches!(run.state, StepState::Succeeded | StepState::Failed)
}

/// What `ferry pipeline logs` does.
#[derive(Debug)]
pub struct Request {
    /// The run; `None`: the newest.
    pub id: Option<u64>,
    pub step: Option<String>,
    pub follow: bool,
}

/// Prints the run's logs (see the module's documentation); exit 1 when
/// the run failed.
pub fn print(client: &Client, req: &Request) -> anyhow::Result<ExitCode> {
    let id = match req.id {
        Some(id) => id,
        None => newest(client)?,
    };
    let mut printed = Printed::default();
    let mut out = std::io::stdout().lock();
    let mut first = true;
    loop {
        let run: Run = client.get(&format!("/pipelines/runs/{id}"))?;
        let over = ended(&run) || !req.follow;
        if let Some(name) = &req.step
            && over
            && !run.steps.iter().any(|s| s.name == *name)
        {
            let names: Vec<&str> = run.steps.iter().map(|s| s.name.as_str()).collect();
            let msg = format!(
                "run {id} has no step `{name}`; its steps: {}",
                names.join(", ")
            );
            return Err(BadInput(msg).into());
        }
        let mut text: Vec<String> = Vec::new();
        if first && req.step.is_none() {
            text.push(header(&run));
        }
        first = false;
        text.extend(next_lines(&run, req.step.as_deref(), &mut printed));
        if over && req.step.is_none() {
            text.push(format!("state: {:?}", run.state));
        }
        for line in text {
            if let Err(e) = writeln!(out, "{line}") {
                // `| head`: the reader went away.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
        if over {
            let failed = run.state == StepState::Failed;
            return Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        std::thread::sleep(POLL);
    }
}

fn header(run: &Run) -> String {
    let commit: String = run.commit.chars().take(7).collect();
    format!(
        "run {}: {} {} {commit} → {}",
        run.id, run.pipeline, run.git_ref, run.image_tag
    )
}

/// The newest run's id.
fn newest(client: &Client) -> anyhow::Result<u64> {
    let v: serde_json::Value = client.get("/pipelines/runs")?;
    v["items"]
        .as_array()
        .and_then(|i| i.last())
        .and_then(|r| r["id"].as_u64())
        .ok_or_else(|| {
            BadInput("no pipeline run yet: push to a branch a pipeline rule matches".into()).into()
        })
}

#[cfg(test)]
#[path = "pipeline_logs_tests.rs"]
mod tests;
