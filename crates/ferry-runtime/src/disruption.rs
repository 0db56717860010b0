//! PodDisruptionBudget decisions, apart from IO (`pdb.rs`): how many
//! healthy pods a budget wants (minAvailable or maxUnavailable, a count or a
//! percentage rounded up, as Kubernetes' disruption controller computes
//! it), the status it reports, and whether an eviction may go ahead
//! (unhealthyPodEvictionPolicy IfHealthyBudget or AlwaysAllow).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

/// The message of an eviction a budget refuses (HTTP 429).
pub const VIOLATES: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// What a budget's status is computed from.
#[derive(Debug, Clone)]
pub struct BudgetInput {
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    /// Pods the selector matches, not being deleted.
    pub pods: i32,
    /// Of those, the ready ones.
    pub healthy: i32,
    /// The desired replicas of the pods' controllers, or why it is unknown
    /// (a pod without a controller).
    pub scale: Result<i32, String>,
    pub generation: i64,
}

/// A budget's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub expected: i32,
    pub desired_healthy: i32,
    pub current_healthy: i32,
    pub disruptions_allowed: i32,
}

/// `value` of `total` (a count, or a percentage rounded up).
pub fn scaled(value: &IntOrString, total: i32) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((i64::from(total) * p + 99) / 100) as i32
        }
    }
}

/// The budget's numbers, or why they cannot be computed.
pub fn budget(input: &BudgetInput) -> Result<Budget, String> {
    let (expected, desired_healthy) = match (&input.max_unavailable, &input.min_available) {
        (Some(max), _) => {
            let scale = input.scale.clone()?;
            (scale, (scale - scaled(max, scale)).max(0))
        }
        (None, Some(IntOrString::Int(n))) => (input.pods, *n),
        (None, Some(min)) => {
            let scale = input.scale.clone()?;
            (scale, scaled(min, scale))
        }
        (None, None) => (input.pods, 0),
    };
    let current_healthy = input.healthy;
    let disruptions_allowed = if expected <= 0 {
        0
    } else {
        (current_healthy - desired_healthy).max(0)
    };
    Ok(Budget {
        expected,
        desired_healthy,
        current_healthy,
        disruptions_allowed,
    })
}

/// The status Kubernetes reports, with its DisruptionAllowed condition.
pub fn status(input: &BudgetInput) -> Value {
    let (b, reason, message) = match budget(input) {
        Ok(b) if b.disruptions_allowed > 0 => (b, "SufficientPods", String::new()),
        Ok(b) => (b, "InsufficientPods", String::new()),
        Err(m) => (
            Budget {
                expected: 0,
                desired_healthy: 0,
                current_healthy: input.healthy,
                disruptions_allowed: 0,
            },
            "SyncFailed",
            m,
        ),
    };
    let allowed = b.disruptions_allowed > 0;
    json!({
        "observedGeneration": input.generation,
        "currentHealthy": b.current_healthy,
        "desiredHealthy": b.desired_healthy,
        "expectedPods": b.expected,
        "disruptionsAllowed": b.disruptions_allowed,
        "conditions": [{"type": "DisruptionAllowed", "status": if allowed { "True" } else { "False" },
            "reason": reason, "message": message, "observedGeneration": input.generation}],
    })
}

/// The pod an eviction asks for, as the eviction rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Pending, finished or already being deleted: no budget applies.
    Ignored,
    /// Running but not ready.
    Unhealthy,
    Healthy,
}

/// Why an eviction is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// 429: the budget has no disruption left (with its cause).
    Violates(String),
    /// 500: more than one budget selects the pod.
    SeveralBudgets,
}

/// Whether the pod may be evicted under the budgets selecting it
/// (`(name, numbers, unhealthyPodEvictionPolicy)`).
pub fn evict(pod: PodState, budgets: &[(String, Budget, Option<String>)]) -> Result<(), Refused> {
    if pod == PodState::Ignored || budgets.is_empty() {
        return Ok(());
    }
    let [(name, b, policy)] = budgets else {
        return Err(Refused::SeveralBudgets);
    };
    if pod == PodState::Unhealthy {
        let healthy_budget = b.current_healthy >= b.desired_healthy && b.desired_healthy > 0;
        if policy.as_deref() == Some("AlwaysAllow") || healthy_budget {
            return Ok(());
        }
    }
    if b.disruptions_allowed > 0 {
        return Ok(());
    }
    Err(Refused::Violates(format!(
        "The disruption budget {name} needs {} healthy pods and has {} currently",
        b.desired_healthy, b.current_healthy
    )))
}

#[cfg(test)]
#[path = "disruption_tests.rs"]
mod tests;
