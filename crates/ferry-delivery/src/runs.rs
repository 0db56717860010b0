//! Pipeline runs kept on disk (`<data dir>/runs.json`, crash-safe), the
//! newest [`LIMIT`] of them.

use std::path::Path;

use crate::pipeline::Run;

/// How many runs are kept.
pub const LIMIT: usize = 200;

/// Loads stored runs (none when absent or unreadable: runs are a log).
pub fn load(dir: &Path) -> Vec<Run> {
    std::fs::read(dir.join("runs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Stores runs, trimming old ones.
pub fn save(dir: &Path, runs: &mut Vec<Run>) {
    if runs.len() > LIMIT {
        let extra = runs.len() - LIMIT;
        runs.drain(..extra);
    }
    let bytes = serde_json::to_vec(runs).expect("runs serialise");
    if let Err(e) = crate::history::write_atomic(&dir.join("runs.json"), &bytes) {
        tracing::warn!(error = %e, "cannot store pipeline runs");
    }
}
