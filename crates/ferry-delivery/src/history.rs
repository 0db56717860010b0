//! Per-application state kept on disk: sync history (revision, images,
//! outcome) and the inventory of objects ferry applied per environment,
//! which is what pruning is allowed to delete.
//!
//! One JSON file per application under `<data dir>/delivery/apps/`, written
//! crash-safely (temporary file, fsync, rename, fsync of the directory), so
//! a kill -9 at any moment leaves either the old or the new file.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::object::ObjKey;

/// How many history entries are kept per application.
pub const HISTORY_LIMIT: usize = 100;

/// How a sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// One sync of one application to one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Increases by one per sync of the application.
    pub id: u64,
    pub environment: String,
    /// Full commit id.
    pub revision: String,
    /// Every container image the sync deployed.
    pub images: Vec<String>,
    pub outcome: Outcome,
    /// What failed, naming file, document and field for bad manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it ran: `git`, `webhook`, `manual`, `self-heal`, `rollback`, `image`.
    pub trigger: String,
    /// Unix milliseconds.
    pub started_ms: u64,
    pub duration_ms: u64,
}

/// Everything stored for one application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRecord {
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Objects ferry applied, per environment.
    #[serde(default)]
    pub inventory: BTreeMap<String, Vec<ObjKey>>,
    /// A revision pinned by `ferry app rollback`, per environment; automated
    /// sync does not move past it until the next `ferry app sync`.
    #[serde(default)]
    pub pinned: BTreeMap<String, String>,
    /// Revisions approved for promotion by `ferry app promote`, per environment.
    #[serde(default)]
    pub approved: BTreeMap<String, String>,
}

impl AppRecord {
    /// Adds an entry, numbering it, and trims old ones.
    pub fn record(&mut self, mut entry: HistoryEntry) -> u64 {
        entry.id = self.history.last().map_or(1, |e| e.id + 1);
        let id = entry.id;
        self.history.push(entry);
        if self.history.len() > HISTORY_LIMIT {
            let extra = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..extra);
        }
        id
    }

    /// The latest successful sync to `env`.
    pub fn last_good(&self, env: &str) -> Option<&HistoryEntry> {
        self.history
            .iter()
            .rev()
            .find(|e| e.environment == env && e.outcome == Outcome::Succeeded)
    }
}

/// The directory of application records.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// One writer at a time per application, so records reach the disk in
    /// the order they were changed (see `Engine::update_record`).
    writers: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl Store {
    /// Opens (creating) `<dir>`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            writers: Arc::default(),
        })
    }

    /// The lock that orders the writes of `app`'s record.
    pub(crate) fn writer(&self, app: &str) -> Arc<Mutex<()>> {
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.entry(app.to_string()).or_default().clone()
    }

    fn path(&self, app: &str) -> PathBuf {
        self.dir.join(format!("{app}.json"))
    }

    /// The record of `app` (empty when none was stored).
    pub fn load(&self, app: &str) -> Result<AppRecord> {
        let path = self.path(app);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AppRecord::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Stores the record of `app` atomically.
    pub fn save(&self, app: &str, record: &AppRecord) -> Result<()> {
        let path = self.path(app);
        let bytes = serde_json::to_vec_pretty(record).expect("records serialise");
        write_atomic(&path, &bytes)
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
/// The temporary file's name is unique within the process, so concurrent
/// writers of one path never rename each other's file away.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of one process writing one record at once (a rollback
    /// while a sync finishes) all succeed and leave one whole file: no
    /// writer renames another's temporary file away.
    #[test]
    fn concurrent_writers_of_one_path_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..40 {
                        write_atomic(path, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "a torn file");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
    }

    fn entry(env: &str, rev: &str, outcome: Outcome) -> HistoryEntry {
        HistoryEntry {
            id: 0,
            environment: env.into(),
            revision: rev.into(),
            images: vec![],
            outcome,
            message: None,
            trigger: "git".into(),
            started_ms: 0,
            duration_ms: 0,
        }
    }

    #[test]
    fn records_round_trip_and_number_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load("web").unwrap(), AppRecord::default());
        let mut r = AppRecord::default();
        assert_eq!(r.record(entry("dev", "a", Outcome::Succeeded)), 1);
        assert_eq!(r.record(entry("dev", "b", Outcome::Failed)), 2);
        store.save("web", &r).unwrap();
        let back = store.load("web").unwrap();
        assert_eq!(back, r);
        assert_eq!(back.last_good("dev").unwrap().revision, "a");
        assert!(back.last_good("prod").is_none());
    }

    #[test]
    fn history_is_bounded() {
        let mut r = AppRecord::default();
        for i in 0..HISTORY_LIMIT + 5 {
            r.record(entry("dev", &i.to_string(), Outcome::Succeeded));
        }
        assert_eq!(r.history.len(), HISTORY_LIMIT);
        assert_eq!(r.history[0].id, 6);
    }

    #[test]
    fn corrupt_file_is_an_error_not_an_empty_record() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.json"), b"{not json").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(store.load("web"), Err(Error::Corrupt { .. })));
    }
}
