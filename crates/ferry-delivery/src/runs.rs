//! Pipeline runs kept on disk (`<data dir>/runs.json`, crash-safe), the
//! newest [`LIMIT`] of them. A change is snapshotted under the engine's
//! lock and written (with its fsyncs) after the lock is released, so a slow
//! disk does not stall every pass and API call behind it; [`RunsFile`]
//! keeps a snapshot from overwriting a newer one written before it.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_core::sync::MutexExt;

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

/// The runs as serialised under the engine's lock, numbered in the order
/// the lock saw them.
#[derive(Debug)]
pub struct Snapshot {
    seq: u64,
    bytes: Vec<u8>,
}

/// Orders the writes of `runs.json`.
#[derive(Debug, Default)]
pub struct RunsFile {
    taken: AtomicU64,
    written: Mutex<u64>,
}

impl RunsFile {
    /// Trims `runs` to [`LIMIT`] and serialises them; call under the lock
    /// that guards them.
    pub fn snapshot(&self, runs: &mut Vec<Run>) -> Snapshot {
        if runs.len() > LIMIT {
            let extra = runs.len() - LIMIT;
            runs.drain(..extra);
        }
        Snapshot {
            seq: self.taken.fetch_add(1, Ordering::SeqCst) + 1,
            bytes: serde_json::to_vec(runs).expect("runs serialise"),
        }
    }

    /// Writes `snapshot` to `dir/runs.json` unless a newer one is there.
    pub fn write(&self, dir: &Path, snapshot: Snapshot) {
        let mut written = self.written.lock_or_recover();
        if snapshot.seq <= *written {
            return;
        }
        match crate::history::write_atomic(&dir.join("runs.json"), &snapshot.bytes) {
            Ok(()) => *written = snapshot.seq,
            Err(e) => tracing::warn!(error = %e, "cannot store pipeline runs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(commit: &str) -> Run {
        serde_json::from_value(serde_json::json!({
            "id": 1, "pipeline": "p", "gitRef": "main", "commit": commit, "imageTag": "t",
            "state": "Running", "startedMs": 1, "steps": [],
        }))
        .unwrap()
    }

    #[test]
    fn an_older_snapshot_written_late_does_not_replace_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = RunsFile::default();
        let mut runs = vec![run("a")];
        let older = file.snapshot(&mut runs);
        runs.push(run("b"));
        let newer = file.snapshot(&mut runs);
        file.write(dir.path(), newer);
        file.write(dir.path(), older);
        let commits: Vec<String> = load(dir.path()).into_iter().map(|r| r.commit).collect();
        assert_eq!(commits, ["a", "b"]);
    }

    #[test]
    fn snapshots_keep_the_newest_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = RunsFile::default();
        let mut runs: Vec<Run> = (0..LIMIT + 5).map(|i| run(&i.to_string())).collect();
        let snapshot = file.snapshot(&mut runs);
        file.write(dir.path(), snapshot);
        let stored = load(dir.path());
        assert_eq!(stored.len(), LIMIT);
        assert_eq!(stored[0].commit, "5");
    }
}
