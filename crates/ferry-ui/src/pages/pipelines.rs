//! The pipelines page and a run's page, from the delivery engine's runs
//! (pure). A run's steps are checkout, `build <image>`, `replicate to
//! <region>`, `gate <env>`, `sync <env>` and `healthy <env>`; each keeps a
//! bounded log (a line per change). A run's commit-to-serving time is from
//! its first step to the first `healthy` step that succeeded. The list
//! (`id="runs"`) and a run (`id="run"`) are replaced by live updates, so a
//! step's new log lines appear without a reload.

use std::fmt::Write as _;

use ferry_delivery::pipeline::{Run, Step, StepState};

use crate::html::{Esc, Url, badge};
use crate::pages::app::started;

/// Runs per page of the list.
pub const RUNS_PER_PAGE: usize = 20;

/// The word shown for a step's or run's state.
pub fn state_word(s: StepState) -> &'static str {
    match s {
        StepState::Pending => "Pending",
        StepState::Running => "Running",
        StepState::Succeeded => "Succeeded",
        StepState::Failed => "Failed",
        StepState::Waiting => "Waiting",
    }
}

/// Milliseconds from the run's first step to its first `healthy <env>`
/// step that succeeded (`None` until one has).
pub fn commit_to_serving_ms(run: &Run) -> Option<u64> {
    let served = run
        .steps
        .iter()
        .filter(|s| s.name.starts_with("healthy ") && s.state == StepState::Succeeded)
        .filter_map(|s| s.finished_ms)
        .min()?;
    Some(served.saturating_sub(run.started_ms))
}

/// A duration in milliseconds as people read it: `850 ms`, `12.4 s`,
/// `3 min 05 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1e3),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The list's query: `?pipeline=&page=` (empty means any, page 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct RunFilter {
    pub pipeline: String,
    pub page: String,
}

impl RunFilter {
    pub fn page(&self) -> usize {
        self.page.trim().parse::<usize>().unwrap_or(1).max(1)
    }
}

/// The runs `filter` selects from `runs` (oldest first, as the engine keeps
/// them; already limited to what the viewer may see): newest first, one
/// page, and how many pages there are.
pub fn select<'a>(runs: &'a [Run], filter: &RunFilter) -> (Vec<&'a Run>, usize) {
    let matching: Vec<&Run> = runs
        .iter()
        .rev()
        .filter(|r| filter.pipeline.is_empty() || r.pipeline == filter.pipeline)
        .collect();
    let pages = matching.len().div_ceil(RUNS_PER_PAGE).max(1);
    let skip = (filter.page() - 1) * RUNS_PER_PAGE;
    let page = matching
        .into_iter()
        .skip(skip)
        .take(RUNS_PER_PAGE)
        .collect();
    (page, pages)
}

/// The pipelines page: a filter by pipeline and the runs table.
pub fn pipelines(pipelines: &[String], runs: &[&Run], filter: &RunFilter, pages: usize) -> String {
    let mut out = String::from(
        "<h1>Pipelines</h1><form class=\"filters\" method=\"get\" action=\"/ui/pipelines\">\
         <label>Pipeline <select name=\"pipeline\"><option value=\"\">any</option>",
    );
    for p in pipelines {
        let sel = if *p == filter.pipeline {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{sel}>{}</option>", Esc(p));
    }
    out.push_str("</select></label><button type=\"submit\">Show</button></form>");
    out.push_str(&runs_table(runs, filter, pages));
    out
}

/// The runs table (`id="runs"`): each run's state, its steps as badges,
/// and its commit-to-serving time.
pub fn runs_table(runs: &[&Run], filter: &RunFilter, pages: usize) -> String {
    let mut out = String::from(
        "<div id=\"runs\"><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Run</th>\
         <th scope=\"col\">Pipeline</th><th scope=\"col\">Ref</th><th scope=\"col\">Commit</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Steps</th>\
         <th scope=\"col\" class=\"num\">Commit to serving</th><th scope=\"col\">Started (UTC)</th>\
         </tr></thead><tbody>",
    );
    for r in runs {
        let _ = write!(
            out,
            "<tr><td><a href=\"/ui/pipelines/runs/{}\">#{}</a></td><td>{}</td><td>{}</td>\
             <td><code>{}</code></td><td>{}</td><td class=\"steps\">",
            r.id,
            r.id,
            Esc(&r.pipeline),
            Esc(&r.git_ref),
            Esc(short(&r.commit)),
            badge(state_word(r.state)),
        );
        for s in &r.steps {
            let _ = write!(
                out,
                "<span class=\"step b-{}\" title=\"{}\">{}</span> ",
                state_word(s.state).to_ascii_lowercase(),
                state_word(s.state),
                Esc(&s.name)
            );
        }
        let c2s = commit_to_serving_ms(r).map_or("-".to_string(), duration);
        let _ = write!(
            out,
            "</td><td class=\"num\">{c2s}</td><td>{}</td></tr>",
            started(r.started_ms)
        );
    }
    if runs.is_empty() {
        out.push_str("<tr><td colspan=\"8\">No pipeline runs yet: a push to a branch a pipeline rule matches starts one.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    let page = filter.page();
    out.push_str("<nav class=\"pager\" aria-label=\"pages\">");
    let link = |p: usize| {
        format!(
            "/ui/pipelines?pipeline={}&amp;page={p}",
            Url(&filter.pipeline)
        )
    };
    if page > 1 {
        let _ = write!(out, "<a href=\"{}\">Newer</a>", link(page - 1));
    }
    let _ = write!(out, "<span class=\"count\">page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(out, "<a href=\"{}\">Older</a>", link(page + 1));
    }
    out.push_str("</nav></div>");
    out
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// A run's page.
pub fn run_page(run: &Run) -> String {
    format!(
        "<h1>Run #{} <span class=\"note\">of {}</span></h1>{}",
        run.id,
        Esc(&run.pipeline),
        run_section(run)
    )
}

/// A run's section (`id="run"`): what it built, its steps with their logs.
pub fn run_section(run: &Run) -> String {
    let mut out = format!(
        "<section id=\"run\"><dl class=\"state\"><dt>State</dt><dd>{}</dd><dt>Ref</dt><dd>{}</dd>\
         <dt>Commit</dt><dd><code>{}</code></dd><dt>Image tag</dt><dd><code>{}</code></dd>\
         <dt>Started</dt><dd>{} UTC</dd><dt>Commit to serving</dt><dd>{}</dd>",
        badge(state_word(run.state)),
        Esc(&run.git_ref),
        Esc(&run.commit),
        Esc(&run.image_tag),
        started(run.started_ms),
        commit_to_serving_ms(run).map_or("not serving yet".to_string(), duration),
    );
    for (image, tag) in &run.images {
        let _ = write!(
            out,
            "<dt>Image {}</dt><dd><code>{}</code></dd>",
            Esc(image),
            Esc(tag)
        );
    }
    out.push_str("</dl><h2>Steps</h2><ol class=\"run-steps\">");
    for s in &run.steps {
        step(&mut out, s);
    }
    out.push_str("</ol>");
    if run.steps.is_empty() {
        out.push_str("<p>No step has started yet.</p>");
    }
    out.push_str("</section>");
    out
}

fn step(out: &mut String, s: &Step) {
    let took = s
        .finished_ms
        .map(|f| duration(f.saturating_sub(s.started_ms)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<li class=\"run-step\"><h3>{} {} <span class=\"note\">{took}</span></h3>",
        badge(state_word(s.state)),
        Esc(&s.name)
    );
    if s.log_dropped > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{} earlier lines dropped</p>",
            s.log_dropped
        );
    }
    out.push_str("<pre class=\"log\" aria-label=\"log\">");
    for line in &s.log {
        let _ = writeln!(out, "{}  {}", started(line.ms), Esc(&line.text));
    }
    out.push_str("</pre></li>");
}

#[cfg(test)]
#[path = "pipelines_tests.rs"]
mod tests;
