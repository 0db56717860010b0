//! Replication of images between registries (issue 3 §4), configured by
//! `ReplicationRule` objects of the topology.
//!
//! Each region runs one [`Engine`] for the rules whose source is that
//! region (a rule with a URL source runs in its target region; URL to URL
//! in the first region; a `mode: pull` rule in its target region, polling
//! the source with its reconcile pass: a private region only dials out).
//! The engine is:
//! - **event-driven**: an `ImagePushed`/`ImageDeleted` on the region's
//!   event bus that matches a rule queues a task at once;
//! - **reconciled**: a periodic pass (and one at start) compares source and
//!   target tag by tag and queues what differs — images pushed before the
//!   rule existed, events missed while down or lagging;
//! - **durable**: the queue is persisted ([`queue`]) with each blob's upload
//!   session, so after a restart a large blob resumes where it stopped;
//! - **efficient**: blobs the target has are skipped, the others stream
//!   source → target without touching disk, several at once ([`copy`]),
//!   within the rule's bandwidth cap when it has one ([`throttle`]);
//! - **deleting** only when asked: with `spec.deletes` a removed tag or a
//!   deleted manifest is removed from the target too, queued like copies.
//!
//! Failures retry with exponential backoff; per-rule status (queue length,
//! lag, bytes in flight, last success and failure) is served at
//! `/api/v1/replication` ([`api`]) and as `ferry_replication_*` metrics.
#![forbid(unsafe_code)]

pub mod api;
pub mod copy;
mod delete;
mod engine;
mod error;
pub mod queue;
mod reconcile;
pub mod rule;
pub mod status;
pub mod throttle;
mod worker;

pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
pub use status::RuleStatus;
