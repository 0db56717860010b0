//! The vote log: `votes.log` in the data directory, one JSON array per line
//! (`["Deadpool"]`, or `["Deadpool","<vote id>"]` when the sender gave an
//! idempotency key). A single writer thread takes every pending vote, appends
//! the batch, calls fdatasync once (group commit) and only then counts and
//! acknowledges them, so an acknowledged vote is on disk. On open, a torn
//! last line (kill -9 mid-write) is cut off; it was never acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::Error;

const FILE: &str = "votes.log";
/// Most votes written by one fdatasync.
const MAX_BATCH: usize = 4096;

/// Votes counted so far (only durable ones).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Votes per hero name, as voted (unknown heroes included).
    pub counts: BTreeMap<String, u64>,
    /// Sum of all counts.
    pub total: u64,
}

struct Pending {
    hero: String,
    id: Option<String>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Handle to the log; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct VoteLog {
    tx: mpsc::Sender<Pending>,
    tally: Arc<Mutex<Tally>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("hero", &self.hero)
            .field("id", &self.id)
            .finish()
    }
}

impl VoteLog {
    /// Replays `<dir>/votes.log` (cutting a torn tail) and starts the writer.
    pub fn open(dir: &Path) -> Result<VoteLog, Error> {
        let path = dir.join(FILE);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let replay = replay(&path, &bytes)?;
        if replay.good_len < bytes.len() as u64 {
            tracing::warn!(path = %path.display(), cut = bytes.len() as u64 - replay.good_len, "cutting a torn, unacknowledged tail off the vote log");
            file.set_len(replay.good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        let tally = Arc::new(Mutex::new(replay.tally));
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let writer = Writer {
            path,
            file,
            good_len: replay.good_len,
            seen: replay.seen,
            tally: tally.clone(),
        };
        std::thread::Builder::new()
            .name("vote-log".into())
            .spawn(move || writer.run(rx))
            .map_err(io_spawn)?;
        Ok(VoteLog { tx, tally })
    }

    /// Records one vote for `hero` and returns once it is on disk. With an
    /// `id` already recorded, returns Ok without counting it again.
    pub async fn record(&self, hero: &str, id: Option<&str>) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        let pending = Pending {
            hero: hero.to_string(),
            id: id.map(String::from),
            done,
        };
        self.tx.send(pending).await.map_err(|_| Error::WriterGone)?;
        wait.await
            .map_err(|_| Error::WriterGone)?
            .map_err(Error::VoteWrite)
    }

    /// A snapshot of the durable counts.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn io_spawn(source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from("<vote-log thread>"),
        source,
    }
}

// === replay ===

struct Replay {
    tally: Tally,
    seen: HashSet<String>,
    good_len: u64,
}

/// Parses the log. A final segment without its newline, or an unparseable
/// final line, is a torn write and is excluded from `good_len`; an
/// unparseable line before the end is corruption.
fn replay(path: &Path, bytes: &[u8]) -> Result<Replay, Error> {
    let mut r = Replay {
        tally: Tally::default(),
        seen: HashSet::new(),
        good_len: 0,
    };
    let mut start = 0usize;
    let mut line_no = 0usize;
    while let Some(nl) = bytes[start..].iter().position(|&b| b == b'\n') {
        line_no += 1;
        let line = &bytes[start..start + nl];
        let end = start + nl + 1;
        match serde_json::from_slice::<Vec<String>>(line) {
            Ok(fields) if !fields.is_empty() && fields.len() <= 2 => {
                let mut it = fields.into_iter();
                let hero = it.next().unwrap_or_default();
                if let Some(id) = it.next() {
                    r.seen.insert(id);
                }
                *r.tally.counts.entry(hero).or_default() += 1;
                r.tally.total += 1;
            }
            other => {
                if end == bytes.len() {
                    break; // torn last line: drop it
                }
                let detail = match other {
                    Err(e) => e.to_string(),
                    Ok(f) => format!("expected [hero] or [hero, id], found {} fields", f.len()),
                };
                return Err(Error::CorruptLog {
                    path: path.to_path_buf(),
                    line: line_no,
                    detail,
                });
            }
        }
        start = end;
        r.good_len = end as u64;
    }
    Ok(r)
}

fn encode(hero: &str, id: Option<&str>, out: &mut Vec<u8>) {
    let fields: Vec<&str> = std::iter::once(hero).chain(id).collect();
    // Serialising a slice of strings cannot fail.
    serde_json::to_writer(&mut *out, &fields).expect("encode vote");
    out.push(b'\n');
}

// === impl Writer ===

struct Writer {
    path: PathBuf,
    file: File,
    good_len: u64,
    seen: HashSet<String>,
    tally: Arc<Mutex<Tally>>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let mut buf = Vec::with_capacity(64 * 1024);
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            buf.clear();
            let mut fresh = Vec::with_capacity(batch.len());
            let mut batch_ids = HashSet::new();
            for p in &batch {
                let dup =
                    p.id.as_ref()
                        .is_some_and(|id| self.seen.contains(id) || !batch_ids.insert(id.as_str()));
                if !dup {
                    encode(&p.hero, p.id.as_deref(), &mut buf);
                }
                fresh.push(!dup);
            }
            let written = if buf.is_empty() {
                Ok(())
            } else {
                self.append(&buf)
            };
            match written {
                Ok(()) => {
                    let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
                    for (p, new) in batch.iter().zip(&fresh) {
                        if *new {
                            *tally.counts.entry(p.hero.clone()).or_default() += 1;
                            tally.total += 1;
                            if let Some(id) = &p.id {
                                self.seen.insert(id.clone());
                            }
                        }
                    }
                    drop(tally);
                    for p in batch {
                        let _ = p.done.send(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, votes = batch.len(), "vote log write failed; votes not recorded");
                    for p in batch {
                        let _ = p.done.send(Err(format!("{}: {e}", self.path.display())));
                    }
                }
            }
        }
        tracing::debug!("vote log writer stopped");
    }

    /// Appends and fdatasyncs; on failure cuts the file back to the last
    /// durable length so a partial batch never counts later.
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let res = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.good_len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.good_len);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[tokio::test]
    async fn votes_survive_reopen_and_ids_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = VoteLog::open(dir.path()).unwrap();
        log.record("Deadpool", None).await.unwrap();
        log.record("Deadpool", Some("a")).await.unwrap();
        log.record("Deadpool", Some("a")).await.unwrap();
        log.record("Batman \"the\"\nknight", Some("b"))
            .await
            .unwrap();
        assert_eq!(log.tally().total, 3);
        drop(log);
        let again = VoteLog::open(dir.path()).unwrap();
        let t = again.tally();
        assert_eq!(t.counts["Deadpool"], 2);
        assert_eq!(t.counts["Batman \"the\"\nknight"], 1);
        again.record("Deadpool", Some("a")).await.unwrap();
        assert_eq!(
            again.tally().total,
            3,
            "an id seen before the restart is still a duplicate"
        );
    }

    #[test]
    fn a_torn_tail_is_cut_and_mid_file_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "[\"Batman\"]\n[\"Deadpool\",\"x\"]\n[\"Sup").unwrap();
        let log = VoteLog::open(dir.path()).unwrap();
        assert_eq!(log.tally().total, 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[\"Batman\"]\n[\"Deadpool\",\"x\"]\n"
        );
        drop(log);
        std::fs::write(&path, "[\"Batman\"]\nnot json\n[\"Deadpool\"]\n").unwrap();
        let err = VoteLog::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("votes.log") && err.contains("line 2"), "{err}");
    }

    proptest! {
        #[test]
        fn replay_never_panics_and_counts_only_complete_lines(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = replay(Path::new("votes.log"), &bytes) {
                prop_assert!(r.good_len as usize <= bytes.len());
                prop_assert!(r.tally.total as usize <= bytes.iter().filter(|&&b| b == b'\n').count());
            }
        }

        #[test]
        fn encoded_votes_replay_exactly(heroes in proptest::collection::vec(".{1,12}", 1..20)) {
            let mut buf = Vec::new();
            for h in &heroes { encode(h, None, &mut buf); }
            let r = replay(Path::new("votes.log"), &buf).unwrap();
            prop_assert_eq!(r.tally.total as usize, heroes.len());
            prop_assert_eq!(r.good_len as usize, buf.len());
        }
    }
}
