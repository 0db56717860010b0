//! One field that differs, as a live-versus-desired diff hands it to its
//! readers (`ferry app diff`, `GET /api/v1/apps/{name}/diff`, the web UI's
//! diff page): the field's path and both values, `None` for a side that
//! lacks the field. Nothing is flattened into text on the way, so a value
//! containing ` → ` or spanning lines reaches every reader intact.
//!
//! Shown two ways, both pure: [`Change::lines`], the CLI's text — one
//! `path: live → desired` line for an ordinary value (as `ferry app diff`
//! always printed it), a block of `-`/`+` lines when a value spans lines or
//! contains the arrow — and [`line_diff`], the line-by-line comparison of
//! two multi-line values that both the CLI's blocks and the UI use.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::FieldDiff;

/// One field whose live value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Dotted path, e.g. `spec.replicas` or `data.app.conf`.
    pub path: String,
    /// The live value; `None` when the live object lacks the field.
    #[serde(default)]
    pub live: Option<Value>,
    /// What git wants; `None` when the field goes away.
    #[serde(default)]
    pub desired: Option<Value>,
}

impl From<FieldDiff> for Change {
    fn from(d: FieldDiff) -> Self {
        let side = |v: Value| (!v.is_null()).then_some(v);
        Change {
            path: d.path,
            live: side(d.live),
            desired: side(d.desired),
        }
    }
}

/// What the CLI's one-line form writes for a side that lacks the field.
pub const ABSENT: &str = "<absent>";

/// Characters of a value the one-line form keeps.
const SHORT: usize = 80;

/// A value as text: a string as it is, anything else as compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `s` cannot share a `path: live → desired` line unambiguously.
fn awkward(s: &str) -> bool {
    s.contains('\n') || s.contains(" → ")
}

impl Change {
    /// The CLI's text: `path: live → desired` (values cut to 80
    /// characters, `<absent>` for a missing side); when either value spans
    /// lines or contains ` → `, `path:` then the values' [`line_diff`],
    /// a line each: `  - ` live only, `  + ` desired only, `    ` both.
    pub fn lines(&self) -> Vec<String> {
        let live = self.live.as_ref().map(text);
        let desired = self.desired.as_ref().map(text);
        if !(live.as_deref().is_some_and(awkward) || desired.as_deref().is_some_and(awkward)) {
            let short = |s: Option<String>| s.map_or_else(|| ABSENT.to_string(), cut);
            return vec![format!(
                "{}: {} → {}",
                self.path,
                short(live),
                short(desired)
            )];
        }
        let mut out = vec![format!("{}:", self.path)];
        for (side, line) in line_diff(live.as_deref(), desired.as_deref()) {
            out.push(format!("  {} {line}", side.sign()));
        }
        out
    }
}

fn cut(s: String) -> String {
    match s.char_indices().nth(SHORT - 1) {
        Some((i, _)) if s.len() > SHORT => format!("{}…", &s[..i]),
        _ => s,
    }
}

/// The CLI's text of one object's differences: each change's
/// [`Change::lines`], then `note` (why an object without changes is
/// listed).
pub fn object_lines(changes: &[Change], note: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = changes.iter().flat_map(Change::lines).collect();
    out.extend(note.map(str::to_string));
    out
}

/// Which value a line of a [`line_diff`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Live,
    Desired,
    Both,
}

impl Side {
    /// `-`, `+` or a space, as in a unified diff.
    pub fn sign(self) -> char {
        match self {
            Side::Live => '-',
            Side::Desired => '+',
            Side::Both => ' ',
        }
    }
}

/// Comparisons past this many line pairs list every live line, then every
/// desired one (the table below grows with their product).
const MAX_PAIRS: usize = 250_000;

/// The lines of `live` and `desired` (split at each `\n`; `None`: no
/// lines) in order, each marked with the value it belongs to: the longest
/// common subsequence is kept as `Both`, so one edited line of a config
/// file reads as one `-` and one `+`.
pub fn line_diff<'a>(live: Option<&'a str>, desired: Option<&'a str>) -> Vec<(Side, &'a str)> {
    let split = |s: Option<&'a str>| s.map_or_else(Vec::new, |s| s.split('\n').collect());
    let (a, b): (Vec<&str>, Vec<&str>) = (split(live), split(desired));
    if a.len().saturating_mul(b.len()) > MAX_PAIRS {
        let gone = a.into_iter().map(|l| (Side::Live, l));
        return gone
            .chain(b.into_iter().map(|l| (Side::Desired, l)))
            .collect();
    }
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push((Side::Both, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j == b.len() || (i < a.len() && common[i + 1][j] >= common[i][j + 1]) {
            out.push((Side::Live, a[i]));
            i += 1;
        } else {
            out.push((Side::Desired, b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
