//! An application's live-versus-desired diff (`/ui/apps/{name}/diff`): the
//! delivery engine's fresh comparison (`Engine::live_diff`, the one `ferry
//! app diff` prints — rendered at the desired revision, dry-run on the
//! target, compared with live, Secret values masked) shown per environment
//! as a unified diff: one `--- live` / `+++ desired` block per object that
//! differs, a `-` line for each field's live value and a `+` line for what
//! git wants (a side that lacks the field has no line). A value spanning
//! lines (a config file in a ConfigMap, an object or array shown as
//! indented JSON) is compared line by line under its path. The engine's
//! changes arrive structured (`ferry_delivery::change::Change`), so a value
//! containing ` → ` is never split. Every value goes through `html::Esc`;
//! nothing here reads or changes state.

use std::fmt::Write as _;
use std::time::Duration;

use ferry_delivery::change::{Change, Side, line_diff, text};
use ferry_delivery::{EnvDiff, ObjectDiff};
use serde_json::Value;

use crate::html::{Esc, Url, badge};
use crate::view::short_rev;

/// The page's body for application `app` (`env`: the one environment
/// compared, else all) from a comparison `age` old.
pub fn page(app: &str, env: Option<&str>, envs: &[EnvDiff], age: Duration) -> String {
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
         revision, dry-run on its target and compared with what runs. Nothing is applied.{}</p>",
        Esc(app),
        reused(age)
    );
    for d in envs {
        env_block(&mut out, d);
    }
    if envs.is_empty() {
        out.push_str("<p>No environment to compare.</p>");
    }
    out
}

/// What the page says of a comparison reused from a moment ago.
fn reused(age: Duration) -> String {
    if age.is_zero() {
        return String::new();
    }
    format!(
        " This comparison ran {:.1} s ago for another request and is reused \
         (one dry run per application and environment every few seconds).",
        age.as_secs_f64()
    )
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
    for c in &o.changes {
        change(out, c);
    }
    if o.changes.is_empty() {
        // `Missing` and `Extra` objects name no fields.
        let sign = if o.sync == "Extra" { "-" } else { "+" };
        let _ = writeln!(out, "{sign} {}", Esc(&o.object));
    }
    if let Some(n) = &o.note {
        let _ = writeln!(out, "<span class=\"hunk\"># {}</span>", Esc(n));
    }
    out.push_str("</pre>");
}

/// A value as the page shows it: a string as it is, an object or array as
/// indented JSON (so its lines compare one by one), others as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => {
            serde_json::to_string_pretty(v).unwrap_or_else(|_| text(v))
        }
        other => text(other),
    }
}

/// One field: a `-` line with its live value and a `+` line with the
/// desired one (a side that lacks the field has no line); when a value
/// spans lines, the field's path, then its lines compared one by one.
fn change(out: &mut String, c: &Change) {
    let live = c.live.as_ref().map(shown);
    let desired = c.desired.as_ref().map(shown);
    let path = Esc(&c.path);
    if ![&live, &desired]
        .iter()
        .any(|s| s.as_deref().is_some_and(|s| s.contains('\n')))
    {
        if let Some(l) = &live {
            let _ = writeln!(out, "<del class=\"rm\">- {path}: {}</del>", Esc(l));
        }
        if let Some(d) = &desired {
            let _ = writeln!(out, "<ins class=\"add\">+ {path}: {}</ins>", Esc(d));
        }
        return;
    }
    let _ = writeln!(out, "<span class=\"hunk\">  {path}:</span>");
    for (side, line) in line_diff(live.as_deref(), desired.as_deref()) {
        let line = Esc(line);
        let _ = match side {
            Side::Live => writeln!(out, "<del class=\"rm\">-   {line}</del>"),
            Side::Desired => writeln!(out, "<ins class=\"add\">+   {line}</ins>"),
            Side::Both => writeln!(out, "    {line}"),
        };
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
