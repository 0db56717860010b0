//! Canary rollouts on the embedded target (issue #22's first slice): an
//! Environment's `spec.strategy.canary` runs a Deployment whose pod
//! template changed as a canary beside the stable one, moves the gateway's
//! weights step by step (or routes tagged requests to it, mirrors a share
//! of live traffic to it, delays its calls), analyses the canary's answers
//! on the gateway's own counters — mirrored ones apart — and promotes it
//! or rolls it back.
//!
//! An app's Argo `Rollout` runs as the Deployment of its name with its
//! own steps ([`argo`]).
//!
//! Pure: [`intercept`] (what the sync applies while a canary runs: the
//! stable template held in the user's Deployment; when a rollout starts),
//! [`plan`] (one decision of the step machine, clock injected) and
//! [`analysis`] (one measurement). IO: [`driver`] (observes the canary
//! and the counters every tick, carries out the plan's commands on the
//! target and the gateway), [`api`] (`/apps/{app}/rollout…`).

pub mod analysis;
pub mod api;
pub mod argo;
pub mod driver;
mod hook;
pub mod intercept;
pub mod metrics;
pub mod plan;

use std::collections::BTreeMap;
use std::sync::Mutex;

use ferry_core::rollout_routes::{FerryFault, SetHeaderRoute, SetMirrorRoute};
use ferry_core::traffic::SharedTrafficSplits;
use serde::Serialize;
use serde_json::Value;

use analysis::Measurement;

/// Which rollout: `(app, environment, deployment)`.
pub type RolloutKey = (String, String, String);

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Working through its steps.
    Progressing,
    /// At a `pause: {}` step, waiting for `promote`.
    Paused,
    /// Steps done: the user's Deployment takes the canary's template.
    Promoting,
    /// The canary became stable.
    Completed,
    /// Rolled back (failed analysis, progress deadline or `abort`).
    Aborted,
}

/// The analysis' running state.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    /// When the current window started (ms), once traffic reached the canary.
    pub window_start_ms: Option<u64>,
    /// The counters at the window's start.
    #[serde(skip)]
    pub baseline: Option<ferry_core::traffic::SideStats>,
    pub measurements: u32,
    pub failures: u32,
    /// Passing measurements since the current step started.
    pub passes_in_step: u32,
    pub last: Option<Measurement>,
}

/// One rollout of one Deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub app: String,
    pub environment: String,
    pub region: String,
    pub namespace: String,
    pub deployment: String,
    /// The Services selecting the Deployment's pods (their traffic is split).
    pub services: Vec<String>,
    #[serde(skip)]
    pub stable_template: Value,
    #[serde(skip)]
    pub canary_template: Value,
    /// The Deployment's `spec.selector`.
    #[serde(skip)]
    pub selector: Value,
    /// The stable Deployment's replicas (the canary's count follows the weight).
    pub replicas: u32,
    pub phase: Phase,
    pub step: usize,
    pub steps: usize,
    pub step_started_ms: u64,
    pub started_ms: u64,
    /// Percent of the Services' traffic the gateway sends to the canary.
    pub weight: u32,
    pub canary_replicas: u32,
    pub analysis: AnalysisRun,
    /// The analysis of the canary's answers to mirrored requests.
    pub mirror_analysis: AnalysisRun,
    /// Header routes in force: their requests go to the canary.
    pub header_routes: Vec<SetHeaderRoute>,
    /// Mirror routes in force: copies of their requests go to the canary.
    pub mirror_routes: Vec<SetMirrorRoute>,
    /// The `ferryFault` in force on the canary's calls to Services.
    pub fault: Option<FerryFault>,
    /// An Argo `Rollout`'s own strategy (else the Environment's).
    #[serde(skip)]
    pub strategy: Option<ferry_core::rollout_spec::CanaryStrategy>,
    /// What of an Argo `Rollout`'s strategy ferry does not run as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `promote` asked for, not acted on yet.
    pub promote: bool,
    /// `abort` asked for, not acted on yet.
    pub abort: bool,
    /// The user's Deployment was handed the canary's template.
    pub stable_synced: bool,
    /// Why it was aborted, or what it waits for.
    pub message: Option<String>,
    /// Every step entered, in order: a short step is seen here even when
    /// no one looked while it ran.
    pub history: Vec<StepEntry>,
}

/// A step the rollout entered: its index, the canary's weight then, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepEntry {
    pub step: usize,
    pub weight: u32,
    pub started_ms: u64,
}

/// The name of the canary Deployment ferry runs beside `deployment`.
pub fn canary_name(deployment: &str) -> String {
    format!("{deployment}-ferry-canary")
}

/// Every rollout of the process and each region's gateway.
#[derive(Debug, Default)]
pub struct Rollouts {
    pub active: Mutex<BTreeMap<RolloutKey, Rollout>>,
    pub traffic: Mutex<BTreeMap<String, SharedTrafficSplits>>,
}

impl crate::engine::Engine {
    /// Lets canaries in `region` split traffic through `splits` (its
    /// gateway); without it the region's environments sync plainly.
    pub fn set_traffic(&self, region: &str, splits: SharedTrafficSplits) {
        use ferry_core::sync::MutexExt;
        self.inner
            .rollouts
            .traffic
            .lock_or_recover()
            .insert(region.to_string(), splits);
    }

    /// The rollouts of `app` (in `env`, when given).
    pub fn rollouts(&self, app: &str, env: Option<&str>) -> Vec<Rollout> {
        use ferry_core::sync::MutexExt;
        self.inner
            .rollouts
            .active
            .lock_or_recover()
            .values()
            .filter(|r| r.app == app && env.is_none_or(|e| e == r.environment))
            .cloned()
            .collect()
    }
}
