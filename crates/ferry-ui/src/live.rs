//! Live updates: the change log the pages' event streams read.
//!
//! [`follow`] turns the engine's change notifications (an application's
//! status or record changed) into a sequence: each change gets the next
//! number, and the log remembers the last number at which each application
//! changed. The region's other sources — the runtime's objects, the remote
//! regions' probes, replication, the gateway's route table, the registry's
//! image events — are noted as
//! [`Topic`]s the same way (`live_sources.rs` feeds them). An event's id is `<epoch>-<number>`, the epoch being random per
//! process: a browser reconnecting with `Last-Event-ID` gets what changed
//! after that number, and one whose id comes from another process (ferry
//! restarted) or that the log cannot answer is told to reload. When the
//! engine's channel overflows, every application counts as changed.
//!
//! The streams themselves (`routes::events`) re-render the fragment their
//! page shows when something relevant changed and send it only when it
//! differs from the last one sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_core::sync::MutexExt;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// A source of change other than the delivery engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// The runtime's stored objects (pods, Knative Services, Revisions…).
    Runtime,
    /// What the probes of remote regions found.
    Regions,
    /// This region's replication rules' state.
    Replication,
    /// The gateway's route table.
    Routes,
    /// This region's registry: a manifest pushed, deleted or replicated
    /// here (the event bus's image events).
    Registry,
}

/// What changed after a given number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Nothing.
    Nothing,
    /// These applications and these other sources (both sorted).
    Changed {
        apps: Vec<String>,
        topics: Vec<Topic>,
    },
    /// Possibly everything (the engine's channel overflowed).
    All,
    /// The number is not this process's: the page must reload.
    Reload,
}

/// The change log of one region's UI.
#[derive(Debug)]
pub struct Changes {
    epoch: String,
    log: Mutex<Log>,
    tx: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Log {
    seq: u64,
    /// The number of each application's last change.
    changed: HashMap<String, u64>,
    /// The number of each topic's last change.
    topics: HashMap<Topic, u64>,
    /// The number of the last "everything changed".
    all: u64,
}

impl Since {
    /// Whether application `app` changed (or possibly everything).
    pub fn app(&self, app: &str) -> bool {
        match self {
            Since::Changed { apps, .. } => apps.iter().any(|a| a == app),
            Since::All => true,
            Since::Nothing | Since::Reload => false,
        }
    }

    /// Whether any application changed (or possibly everything).
    pub fn any_app(&self) -> bool {
        match self {
            Since::Changed { apps, .. } => !apps.is_empty(),
            Since::All => true,
            Since::Nothing | Since::Reload => false,
        }
    }

    /// Whether source `topic` changed (or possibly everything).
    pub fn topic(&self, topic: Topic) -> bool {
        match self {
            Since::Changed { topics, .. } => topics.contains(&topic),
            Since::All => true,
            Since::Nothing | Since::Reload => false,
        }
    }
}

impl Changes {
    /// An empty log; `epoch` tells this process's ids from another's.
    pub fn new(epoch: String) -> Changes {
        Changes {
            epoch,
            log: Mutex::new(Log::default()),
            tx: watch::channel(0).0,
        }
    }

    /// Application `app` changed.
    pub fn note(&self, app: &str) {
        let seq = {
            let mut log = self.log.lock_or_recover();
            log.seq += 1;
            let seq = log.seq;
            log.changed.insert(app.to_string(), seq);
            seq
        };
        self.tx.send_replace(seq);
    }

    /// Source `topic` changed.
    pub fn note_topic(&self, topic: Topic) {
        let seq = {
            let mut log = self.log.lock_or_recover();
            log.seq += 1;
            let seq = log.seq;
            log.topics.insert(topic, seq);
            seq
        };
        self.tx.send_replace(seq);
    }

    /// Anything may have changed.
    pub fn note_all(&self) {
        let seq = {
            let mut log = self.log.lock_or_recover();
            log.seq += 1;
            log.all = log.seq;
            log.seq
        };
        self.tx.send_replace(seq);
    }

    /// The current number.
    pub fn seq(&self) -> u64 {
        self.log.lock_or_recover().seq
    }

    /// The event id of number `seq`.
    pub fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// The number in event id `id`, if it is this process's and not ahead
    /// of the log.
    pub fn parse_id(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.rsplit_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        (epoch == self.epoch && seq <= self.seq()).then_some(seq)
    }

    /// What changed after number `after` (`None`: an id that was not this
    /// process's), and the number that answer is as of.
    pub fn since(&self, after: Option<u64>) -> (Since, u64) {
        let log = self.log.lock_or_recover();
        let Some(after) = after.filter(|a| *a <= log.seq) else {
            return (Since::Reload, log.seq);
        };
        if log.all > after {
            return (Since::All, log.seq);
        }
        let mut apps: Vec<String> = log
            .changed
            .iter()
            .filter(|(_, s)| **s > after)
            .map(|(a, _)| a.clone())
            .collect();
        apps.sort();
        let mut topics: Vec<Topic> = log
            .topics
            .iter()
            .filter(|(_, s)| **s > after)
            .map(|(t, _)| *t)
            .collect();
        topics.sort();
        let since = if apps.is_empty() && topics.is_empty() {
            Since::Nothing
        } else {
            Since::Changed { apps, topics }
        };
        (since, log.seq)
    }

    /// Wakes when the number moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// Feeds `changes` from the engine's notifications until `shutdown`.
/// (`rx` is `Engine::changes`, taken before the task starts so no change
/// in between is missed.)
pub async fn follow(
    mut rx: broadcast::Receiver<Arc<str>>,
    changes: Arc<Changes>,
    shutdown: CancellationToken,
) {
    loop {
        let got = tokio::select! {
            _ = shutdown.cancelled() => return,
            got = rx.recv() => got,
        };
        match got {
            Ok(app) => changes.note(&app),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the UI's change feed lagged; every page refreshes");
                changes.note_all();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_after_a_number_are_the_apps_changed_since() {
        let c = Changes::new("e1".into());
        assert_eq!(c.since(Some(0)).0, Since::Nothing);
        c.note("web");
        c.note("api");
        c.note("web");
        assert_eq!(c.seq(), 3);
        assert_eq!(c.since(Some(0)).0, apps(&["api", "web"]));
        assert_eq!(c.since(Some(2)).0, apps(&["web"]));
        assert_eq!(c.since(Some(3)).0, Since::Nothing);
        c.note_all();
        assert_eq!(c.since(Some(3)).0, Since::All);
        assert_eq!(c.since(Some(4)).0, Since::Nothing);
    }

    fn apps(names: &[&str]) -> Since {
        Since::Changed {
            apps: names.iter().map(|s| s.to_string()).collect(),
            topics: vec![],
        }
    }

    #[test]
    fn topics_are_logged_beside_applications() {
        let c = Changes::new("e1".into());
        c.note_topic(Topic::Runtime);
        c.note("web");
        c.note_topic(Topic::Regions);
        let (since, seq) = c.since(Some(0));
        assert_eq!(seq, 3);
        assert_eq!(
            since,
            Since::Changed {
                apps: vec!["web".into()],
                topics: vec![Topic::Runtime, Topic::Regions],
            }
        );
        assert!(since.topic(Topic::Runtime) && !since.topic(Topic::Routes));
        assert!(since.app("web") && !since.app("api") && since.any_app());
        let (later, _) = c.since(Some(2));
        assert!(!later.any_app() && later.topic(Topic::Regions));
        assert!(!later.topic(Topic::Runtime), "noted before number 2");
        assert_eq!(c.since(Some(3)).0, Since::Nothing);
        c.note_all();
        let all = c.since(Some(3)).0;
        assert!(all.topic(Topic::Replication) && all.app("any"));
    }

    #[test]
    fn ids_of_another_process_or_from_the_future_mean_reload() {
        let c = Changes::new("e1".into());
        c.note("web");
        assert_eq!(c.id(1), "e1-1");
        assert_eq!(c.parse_id("e1-1"), Some(1));
        assert_eq!(c.parse_id("e0-1"), None, "another process");
        assert_eq!(c.parse_id("e1-9"), None, "ahead of the log");
        assert_eq!(c.parse_id("garbage"), None);
        assert_eq!(c.since(None).0, Since::Reload);
        assert_eq!(c.since(Some(9)).0, Since::Reload);
    }

    #[tokio::test]
    async fn the_engines_notifications_move_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::testdata::engine(dir.path(), &["web"]);
        let changes = Arc::new(Changes::new("e".into()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(follow(engine.changes(), changes.clone(), shutdown.clone()));
        let mut rx = changes.subscribe();
        // A sync request changes the application's record.
        engine.sync_now("web", None).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.changed())
            .await
            .expect("a change within 5 s")
            .unwrap();
        assert_eq!(changes.since(Some(0)).0, apps(&["web"]));
        shutdown.cancel();
        task.await.unwrap();
    }
}
