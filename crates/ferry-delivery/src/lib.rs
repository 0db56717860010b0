//! ferry's delivery engine.
#![forbid(unsafe_code)]

mod actions;
pub mod api;
mod attach;
pub mod automation;
mod build_runs;
pub mod builder;
pub mod diff;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod fleet_merge;
mod gate;
mod git_tls;
pub mod health;
pub mod history;
pub mod image_inputs;
mod image_tags;
pub mod images;
pub mod metrics;
mod notify;
pub mod object;
pub mod order;
pub mod pipeline;
pub mod plan;
pub mod pull_access;
pub mod pull_secret;
mod reconcile;
mod reconcile_inputs;
mod reconcile_records;
pub mod remote;
pub mod render;
pub mod rollout;
mod runs;
pub mod runtime_target;
pub mod source;
pub mod status;
pub mod sync;
pub mod target;
mod targets;
pub mod webhook;

pub use attach::{Attach, attach};
pub use engine::{Engine, EngineConfig, RegionTarget};
pub use error::{Error, Result};
pub use reconcile::{EnvDiff, ObjectDiff};
