//! An application's live-versus-desired diff (`/ui/apps/{name}/diff`): the
//! delivery engine's fresh comparison (`Engine::live_diff`, the one `ferry
//! app diff` prints — rendered at the desired revision, dry-run on the
//! target, compared with live, Secret values masked) shown per environment
//! as a unified diff: one `--- live` / `+++ desired` block per object that
//! differs, a `-` line for each field's live value and a `+` line for what
//! git wants (a side that lacks the field has no line). Every value goes
//! through `html::Esc`; nothing here reads or changes state.

use std::fmt::Write as _;

use ferry_delivery::{EnvDiff, ObjectDiff};

use crate::html::{Esc, Url, badge};
use crate::view::short_rev;

/// What the engine writes for a field one side lacks.
const ABSENT: &str = "<absent>";

/// The page's body for application `app` (`env`: the one environment
/// compared, else all).
pub fn page(app: &str, env: Option<&str>, envs: &[EnvDiff]) -> String {
    let mut out = String::with_capacity(4096);
    let back = match env {
        Some(e) => format!("/ui/apps/{}?env={}", Url(app), Url(e)),
        None => format!("/ui/apps/{}", Url(app)),
    };
    let _ = write!(
        out,
        "<p class=\"crumbs\"><a href=\"/ui/apps\">Applications</a> / <a href=\"{back}\">{}</a> /</p>\
         <h1>Diff: live → desired</h1>\
         <p class=\"meta\">A fresh comparison: each environment's objects rendered at its desired \
         revision, dry-run on its target and compared with what runs. Nothing is applied.</p>",
        Esc(app)
    );
    for d in envs {
        env_block(&mut out, d);
    }
    if envs.is_empty() {
        out.push_str("<p>No environment to compare.</p>");
    }
    out
}

fn env_block(out: &mut String, d: &EnvDiff) {
    let cluster = d
        .cluster
        .as_deref()
        .map(|c| format!(" · cluster {}", Esc(c)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<section class=\"diff-env\"><h2>{}{cluster} <span class=\"note\">revision <code>{}</code> · dry run {}</span></h2>",
        Esc(&d.environment),
        Esc(short_rev(d.revision.as_deref())),
        Esc(d.dry_run),
    );
    if let Some(e) = &d.error {
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{}</p>", Esc(e));
    } else if d.objects.is_empty() {
        out.push_str("<p class=\"same\">Live matches desired.</p>");
    }
    for o in &d.objects {
        object(out, o);
    }
    out.push_str("</section>");
}

fn object(out: &mut String, o: &ObjectDiff) {
    let _ = write!(
        out,
        "<h3><code>{}</code> {}</h3><pre class=\"diff\"><span class=\"hunk\">--- live\n+++ desired\n</span>",
        Esc(&o.object),
        badge(o.sync)
    );
    for line in &o.diff {
        let (path, live, desired) = split(line);
        if live != ABSENT {
            let _ = writeln!(
                out,
                "<del class=\"rm\">- {}: {}</del>",
                Esc(path),
                Esc(live)
            );
        }
        if desired != ABSENT {
            let _ = writeln!(
                out,
                "<ins class=\"add\">+ {}: {}</ins>",
                Esc(path),
                Esc(desired)
            );
        }
    }
    if o.diff.is_empty() {
        // `Missing` and `Extra` objects name no fields.
        let sign = if o.sync == "Extra" { "-" } else { "+" };
        let _ = writeln!(out, "{sign} {}", Esc(&o.object));
    }
    out.push_str("</pre>");
}

/// A `path: live → desired` line (`diff::describe`) as its three parts; a
/// line of another shape is a path whose values are unknown.
fn split(line: &str) -> (&str, &str, &str) {
    let Some((path, rest)) = line.split_once(": ") else {
        return (line, ABSENT, ABSENT);
    };
    match rest.split_once(" → ") {
        Some((live, desired)) => (path, live, desired),
        None => (path, ABSENT, rest),
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
