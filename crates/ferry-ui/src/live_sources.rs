//! Feeds the change log ([`crate::live::Changes`]) from the region's
//! sources besides the delivery engine, one [`Topic`] each:
//!
//! - the runtime's stored objects ([`Topic::Runtime`]): its commit counter
//!   (`Runtime::changes`) moves after every apply, status update or
//!   deletion; noted at most every [`RUNTIME_EVERY`], so a busy runtime
//!   does not make every open pods page re-render on each pod status;
//! - the registry's image events ([`Topic::Registry`]): a manifest pushed
//!   to or deleted from this region's registry, or replicated into it, as
//!   the event bus announces them (a lagging subscription counts as a
//!   change);
//! - the remote regions' probes ([`Topic::Regions`]) and this region's
//!   replication rules ([`Topic::Replication`]), which announce nothing:
//!   every [`POLL`] (and after each runtime change) the fragment each
//!   shows — the overview's regions table, the registry section as a
//!   viewer allowed to see it would — is hashed, and the topic noted when
//!   the hash moved.
//!
//! The gateway's route table ([`Topic::Routes`]) is not noted for now: an
//! open traffic page sent anything on a route change (a patch of its
//! route block, or a reload) left Chromium unable to send a later form
//! POST to the origin (`ferry-server/tests/ui_browser.rs`'s exec step, every
//! run; the cause is not found). The traffic page keeps its own refresh of
//! the destinations' figures every sampling interval.
//!
//! All of it runs once per region, whatever the number of open pages (and
//! also while none is open, so a stream resuming after a gap learns what
//! changed in it); a poll costs a few microseconds.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use ferry_core::events::Event;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::Ui;
use crate::live::Topic;
use crate::pages::overview::{RegistryState, registry_section};

/// How often the sources without notifications are looked at.
pub const POLL: Duration = Duration::from_millis(250);
/// The shortest time between two notes of a runtime change.
pub const RUNTIME_EVERY: Duration = Duration::from_millis(100);

/// The last hash of each polled source.
#[derive(Debug, Default)]
pub struct Fingerprints {
    seen: Vec<(Topic, u64)>,
}

impl Fingerprints {
    /// Records `now` (a hash per topic) and returns the topics whose hash
    /// moved since the last call; the first sight of a topic is no change.
    pub fn moved(&mut self, now: &[(Topic, u64)]) -> Vec<Topic> {
        let mut out = Vec::new();
        for &(topic, h) in now {
            match self.seen.iter_mut().find(|(t, _)| *t == topic) {
                Some((_, last)) if *last != h => {
                    *last = h;
                    out.push(topic);
                }
                Some(_) => {}
                None => self.seen.push((topic, h)),
            }
        }
        out
    }
}

/// A hash of `value`'s text.
pub fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl Ui {
    /// The hashes of what the polled sources show now.
    fn source_hashes(&self) -> Vec<(Topic, u64)> {
        let cfg = self.cfg();
        let mut out = vec![(Topic::Regions, hash_of(&self.regions_fragment()))];
        if let Some(r) = &cfg.replication {
            let status = r.status();
            let html = registry_section(&cfg.region, RegistryState::Rules(&status));
            out.push((Topic::Replication, hash_of(&html)));
        }
        out
    }
}

/// Waits for the runtime's next commit (never, without a runtime).
async fn committed(rx: &mut Option<watch::Receiver<u64>>) {
    if let Some(r) = rx
        && r.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// Whether `event` changes what region `here`'s registry holds.
pub fn concerns_registry(event: &Event, here: &str) -> bool {
    match event {
        Event::ImagePushed { region, .. } | Event::ImageDeleted { region, .. } => region == here,
        Event::ImageReplicated { target, .. } => target == here,
        _ => false,
    }
}

/// Waits for the next image event concerning region `here`'s registry
/// (never, without an event bus).
async fn image_event(rx: &mut Option<broadcast::Receiver<Arc<Event>>>, here: &str) {
    if let Some(r) = rx {
        loop {
            match r.recv().await {
                Ok(e) if concerns_registry(&e, here) => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    std::future::pending().await
}

/// Notes the sources' changes in `ui`'s change log until `shutdown`.
pub async fn run(ui: Ui, shutdown: CancellationToken) {
    let mut runtime = ui.cfg().runtime.as_ref().map(|r| r.changes());
    let mut images = ui.cfg().events.as_ref().map(|e| e.subscribe());
    let here = ui.cfg().region.clone();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut fp = Fingerprints::default();
    let changes = ui.inner.changes.clone();
    loop {
        let runtime_moved = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = committed(&mut runtime) => true,
            _ = image_event(&mut images, &here) => {
                changes.note_topic(Topic::Registry);
                false
            }
            _ = tick.tick() => false,
        };
        if runtime_moved {
            changes.note_topic(Topic::Runtime);
        }
        let now = ui.source_hashes();
        for topic in fp.moved(&now) {
            changes.note_topic(topic);
        }
        if runtime_moved {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RUNTIME_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_events_of_this_region_only() {
        let pushed = |region: &str| Event::ImagePushed {
            region: region.into(),
            repository: "team/web".into(),
            tag: Some("v1".into()),
            digest: "sha256:00".into(),
        };
        assert!(concerns_registry(&pushed("uk"), "uk"));
        assert!(!concerns_registry(&pushed("us"), "uk"));
        let deleted = Event::ImageDeleted {
            region: "uk".into(),
            repository: "team/web".into(),
            reference: "v1".into(),
        };
        assert!(concerns_registry(&deleted, "uk"));
        let copied = |target: &str| Event::ImageReplicated {
            source: "us".into(),
            target: target.into(),
            repository: "team/web".into(),
            tag: None,
            digest: "sha256:00".into(),
        };
        assert!(concerns_registry(&copied("uk"), "uk"), "copied here");
        assert!(!concerns_registry(&copied("ap"), "uk"), "copied away");
    }

    #[test]
    fn a_topic_moves_when_its_hash_does_and_not_at_first_sight() {
        let mut fp = Fingerprints::default();
        assert_eq!(
            fp.moved(&[(Topic::Regions, 1), (Topic::Replication, 7)]),
            vec![]
        );
        assert_eq!(
            fp.moved(&[(Topic::Regions, 1), (Topic::Replication, 7)]),
            vec![]
        );
        assert_eq!(
            fp.moved(&[(Topic::Regions, 2), (Topic::Replication, 7)]),
            vec![Topic::Regions]
        );
        assert_eq!(
            fp.moved(&[(Topic::Regions, 2), (Topic::Routes, 3)]),
            vec![],
            "a topic first seen later"
        );
        assert_eq!(
            fp.moved(&[(Topic::Routes, 4), (Topic::Replication, 8)]),
            vec![Topic::Routes, Topic::Replication]
        );
    }
}
