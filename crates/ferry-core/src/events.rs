//! The in-process event bus. Components publish what happened (an image
//! pushed, replicated, deleted; later syncs and pipeline runs) and others
//! subscribe: the delivery engine to react, webhooks to notify.
//!
//! Built on `tokio::sync::broadcast`: publishing never blocks; a subscriber
//! that falls behind by more than the capacity is told how many it missed
//! (`RecvError::Lagged`) and must reconcile from stored state, which is why
//! every consumer also has a periodic pass.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Something that happened in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Event {
    /// A manifest was stored under a tag (or by digest when `tag` is none).
    ImagePushed {
        region: String,
        repository: String,
        tag: Option<String>,
        digest: String,
    },
    /// A manifest or tag was deleted.
    ImageDeleted {
        region: String,
        repository: String,
        reference: String,
    },
    /// An image now exists in `target` region's registry as well.
    ImageReplicated {
        source: String,
        target: String,
        repository: String,
        tag: Option<String>,
        digest: String,
    },
}

impl Event {
    /// The CloudEvents `type` attribute for this event.
    pub fn cloud_event_type(&self) -> &'static str {
        match self {
            Event::ImagePushed { .. } => "dev.ferry.image.pushed",
            Event::ImageDeleted { .. } => "dev.ferry.image.deleted",
            Event::ImageReplicated { .. } => "dev.ferry.image.replicated",
        }
    }
}

/// A cheap-to-clone handle on the bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    /// A bus that buffers up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
        }
    }

    /// Publishes an event; with no subscriber it is dropped.
    pub fn publish(&self, event: Event) {
        tracing::debug!(kind = event.cloud_event_type(), "event");
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_in_order() {
        let bus = EventBus::new(8);
        let mut rx = bus.subscribe();
        for tag in ["a", "b"] {
            bus.publish(Event::ImagePushed {
                region: "uk".into(),
                repository: "myhero/data".into(),
                tag: Some(tag.into()),
                digest: "sha256:00".into(),
            });
        }
        let first = rx.recv().await.unwrap();
        assert!(matches!(&*first, Event::ImagePushed { tag: Some(t), .. } if t == "a"));
        let second = rx.recv().await.unwrap();
        assert_eq!(second.cloud_event_type(), "dev.ferry.image.pushed");
        let json = serde_json::to_value(&*second).unwrap();
        assert_eq!(json["type"], "imagePushed");
    }
}
