//! The pending-work queue, persisted so nothing is lost across restarts.
//!
//! One JSON file per task under `<dir>/`, named by a hash of
//! `(rule, repository, reference, op)` so the same image queued twice is
//! one task. Every change is written to a temp file, fsynced and renamed
//! (kill -9 at any moment leaves either the old or the new task); a task
//! file is removed only after its copy completed. Upload sessions of
//! partly copied blobs are stored in the task, so a restarted engine
//! resumes a large blob where it stopped.

use ferry_core::sync::MutexExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_image::client::UploadSession;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Op {
    Copy,
    Delete,
}

/// One unit of pending work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub rule: String,
    pub repository: String,
    /// A tag, or a digest.
    pub reference: String,
    pub op: Op,
    /// When it was first queued (ms since the epoch), for lag.
    pub enqueued_at_ms: u64,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Blob digest → upload in progress at the target.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uploads: BTreeMap<String, UploadSession>,
}

impl Task {
    /// A new task queued now.
    pub fn new(rule: &str, repository: &str, reference: &str, op: Op) -> Self {
        Self {
            rule: rule.into(),
            repository: repository.into(),
            reference: reference.into(),
            op,
            enqueued_at_ms: now_ms(),
            attempts: 0,
            last_error: None,
            uploads: BTreeMap::new(),
        }
    }

    /// The task's identity (and file name).
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.rule.as_str(),
            &self.repository,
            &self.reference,
            if self.op == Op::Copy {
                "copy"
            } else {
                "delete"
            },
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug)]
struct Slot {
    task: Task,
    ready_at: Instant,
    in_flight: bool,
    /// Queued again while in flight: run once more after this run.
    again: bool,
}

/// The persisted queue; see the module docs.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl Queue {
    /// Opens the queue in `dir`, loading every task left by an earlier run.
    pub fn open(dir: &Path) -> Result<Self> {
        let qerr = |message: String| Error::Queue {
            path: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| qerr(e.to_string()))?;
        let mut slots = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| qerr(e.to_string()))? {
            let path = entry.map_err(|e| qerr(e.to_string()))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.ends_with(".json") {
                // A temp file from a write cut by a crash.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Task>(&b).ok());
            match parsed {
                Some(task) => {
                    slots.insert(
                        task.key(),
                        Slot {
                            task,
                            ready_at: Instant::now(),
                            in_flight: false,
                            again: false,
                        },
                    );
                }
                None => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable replication task")
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            slots: Mutex::new(slots),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn persist(&self, task: &Task) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(task).map_err(|e| Error::Queue {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        ferry_image::store::write_atomic(&self.path(&task.key()), &bytes).map_err(|e| {
            Error::Queue {
                path: self.dir.clone(),
                message: e.to_string(),
            }
        })
    }

    /// Queues `task` (persisted before this returns). Queuing what is
    /// already queued makes it ready now and keeps its original age.
    pub fn push(&self, task: Task) -> Result<()> {
        let key = task.key();
        let mut slots = self.slots.lock_or_recover();
        if let Some(slot) = slots.get_mut(&key) {
            slot.ready_at = Instant::now();
            if slot.in_flight {
                slot.again = true;
            }
            return Ok(());
        }
        self.persist(&task)?;
        slots.insert(
            key,
            Slot {
                task,
                ready_at: Instant::now(),
                in_flight: false,
                again: false,
            },
        );
        Ok(())
    }

    /// Every task queued or in flight (copies, for status pages).
    pub fn tasks(&self) -> Vec<Task> {
        let slots = self.slots.lock_or_recover();
        slots.values().map(|s| s.task.clone()).collect()
    }

    /// Takes the next ready task, or tells how long until one is ready.
    pub fn take(&self) -> std::result::Result<Task, Option<Duration>> {
        let mut slots = self.slots.lock_or_recover();
        let now = Instant::now();
        let mut wait: Option<Duration> = None;
        for slot in slots.values_mut().filter(|s| !s.in_flight) {
            if slot.ready_at <= now {
                slot.in_flight = true;
                return Ok(slot.task.clone());
            }
            let d = slot.ready_at - now;
            wait = Some(wait.map_or(d, |w| w.min(d)));
        }
        Err(wait)
    }

    /// Marks a task done: removed, unless it was queued again meanwhile.
    pub fn done(&self, key: &str) -> Result<()> {
        let mut slots = self.slots.lock_or_recover();
        if let Some(slot) = slots.get_mut(key)
            && slot.again
        {
            slot.again = false;
            slot.in_flight = false;
            slot.task.uploads.clear();
            return Ok(());
        }
        slots.remove(key);
        match std::fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Queue {
                path: self.path(key),
                message: e.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt and makes the task ready again after `delay`.
    pub fn failed(&self, key: &str, error: &str, delay: Duration) -> Result<u32> {
        let mut slots = self.slots.lock_or_recover();
        let Some(slot) = slots.get_mut(key) else {
            return Ok(0);
        };
        slot.task.attempts += 1;
        slot.task.last_error = Some(error.to_string());
        slot.in_flight = false;
        slot.ready_at = if slot.again {
            Instant::now()
        } else {
            Instant::now() + delay
        };
        slot.again = false;
        let task = slot.task.clone();
        drop(slots);
        self.persist(&task)?;
        Ok(task.attempts)
    }

    /// Stores the upload session of a blob being copied for task `key`.
    pub fn save_upload(&self, key: &str, blob: &str, session: &UploadSession) -> Result<()> {
        let task = {
            let mut slots = self.slots.lock_or_recover();
            let Some(slot) = slots.get_mut(key) else {
                return Ok(());
            };
            slot.task.uploads.insert(blob.to_string(), session.clone());
            slot.task.clone()
        };
        self.persist(&task)
    }

    /// The upload session saved for `blob` of task `key`.
    pub fn upload(&self, key: &str, blob: &str) -> Option<UploadSession> {
        self.slots
            .lock()
            .expect("queue lock")
            .get(key)
            .and_then(|s| s.task.uploads.get(blob).cloned())
    }

    /// `(pending tasks, enqueue time of the oldest)` of rule `rule`.
    pub fn pending(&self, rule: &str) -> (usize, Option<u64>) {
        let slots = self.slots.lock_or_recover();
        let mine = slots.values().filter(|s| s.task.rule == rule);
        mine.fold((0, None), |(n, oldest), s| {
            (
                n + 1,
                Some(oldest.map_or(s.task.enqueued_at_ms, |o: u64| o.min(s.task.enqueued_at_ms))),
            )
        })
    }

    /// True when `task`'s key is queued.
    pub fn contains(&self, task: &Task) -> bool {
        self.slots
            .lock()
            .expect("queue lock")
            .contains_key(&task.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_dedupes_and_keeps_upload_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        let t = Task::new("r", "a/b", "v1", Op::Copy);
        q.push(t.clone()).unwrap();
        q.push(Task::new("r", "a/b", "v1", Op::Copy)).unwrap();
        assert_eq!(q.pending("r").0, 1);
        let taken = q.take().unwrap();
        assert!(
            q.take().is_err(),
            "in-flight tasks are not handed out twice"
        );
        let s = UploadSession {
            location: "http://x/u".into(),
            offset: 42,
        };
        q.save_upload(&taken.key(), "sha256:1", &s).unwrap();
        q.failed(&taken.key(), "boom", Duration::from_secs(3600))
            .unwrap();
        // A crash leaves a temp file behind; reopening ignores it.
        std::fs::write(dir.path().join("x.tmp-1"), b"partial").unwrap();
        drop(q);
        let q = Queue::open(dir.path()).unwrap();
        assert_eq!(q.pending("r").0, 1);
        let again = q.take().unwrap();
        assert_eq!(again.attempts, 1);
        assert_eq!(q.upload(&again.key(), "sha256:1"), Some(s));
        q.done(&again.key()).unwrap();
        assert_eq!(Queue::open(dir.path()).unwrap().pending("r").0, 0);
    }

    #[test]
    fn queued_again_while_in_flight_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        q.push(Task::new("r", "a", "v1", Op::Copy)).unwrap();
        let t = q.take().unwrap();
        q.push(Task::new("r", "a", "v1", Op::Copy)).unwrap();
        q.done(&t.key()).unwrap();
        assert!(q.take().is_ok());
    }
}
