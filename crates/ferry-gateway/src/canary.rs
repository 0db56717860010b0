//! Canary splits (ferry-core's `traffic` contract): per Service, the share
//! of its traffic the delivery engine sends to a Deployment's canary pods.
//! [`overlay`] (pure) rewrites a compiled [`RouteTable`] so every route to
//! a split Service forwards to two subsets — `ferry-stable` (pods without
//! the canary label) and `ferry-canary` (pods with it) — at the split's
//! weights; the gateway applies it after every compile and on every
//! [`TrafficSplits::set_split`], so a weight change is one table swap.
//! Mesh traffic to a Service without rules of its own is split likewise
//! ([`fallback_rules`] on the proxy's default rule).
//! [`SplitCounters`] count each side's answers for the engine's analysis,
//! the canary's answers to mirrored requests apart from its live ones.
//! Header and mirror routes: [`crate::canary_routes`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_core::mesh::ServiceKey;
use ferry_core::sync::MutexExt;
use ferry_core::traffic::{
    CANARY_LABEL, LATENCY_BUCKETS, SideStats, Split, SplitStats, TrafficSplits,
};

use crate::canary_routes::{MIRROR, expand};
use crate::proxy::Gateway;
use crate::table::{Action, RouteTable, Rule, SubsetPolicy, WeightedDestination};

/// The subset names a split adds.
pub const STABLE: &str = "ferry-stable";
pub const CANARY: &str = "ferry-canary";

/// The splits in force and their counters.
#[derive(Debug, Default)]
pub struct Splits {
    pub splits: Mutex<BTreeMap<ServiceKey, Split>>,
    counters: Mutex<HashMap<ServiceKey, Arc<SplitCounters>>>,
}

/// One side's counters.
#[derive(Debug, Default)]
struct SideCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

/// Both sides' counters of one Service, and the mirrored requests'.
#[derive(Debug, Default)]
pub struct SplitCounters {
    stable: SideCounters,
    canary: SideCounters,
    mirror: SideCounters,
}

impl SideCounters {
    fn record(&self, status: u16, seconds: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> SideStats {
        SideStats {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: self
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

impl Splits {
    /// Counts one answer of `subset` (a split's) of `service`.
    pub fn record(&self, service: &ServiceKey, subset: &str, status: u16, seconds: f64) {
        if ![STABLE, CANARY, MIRROR].contains(&subset) {
            return;
        }
        let Some(c) = self.counters.lock_or_recover().get(service).cloned() else {
            return;
        };
        let side = match subset {
            STABLE => &c.stable,
            CANARY => &c.canary,
            _ => &c.mirror,
        };
        side.record(status, seconds);
    }

    /// Rewrites `table` for the splits in force.
    pub fn overlay(&self, table: &mut RouteTable) {
        overlay(table, &self.splits.lock_or_recover());
    }
}

/// Splits every forward to a Service of `splits` (naming no subset of its
/// own) into its stable and canary subsets, after the copies its header
/// and mirror routes add, and adds the subsets to the Service's
/// destination policy.
pub fn overlay(table: &mut RouteTable, splits: &BTreeMap<ServiceKey, Split>) {
    if splits.is_empty() {
        return;
    }
    let lists = table
        .north
        .iter_mut()
        .map(|v| &mut v.rules)
        .chain(table.mesh.values_mut());
    for rules in lists {
        *rules = split_rules(std::mem::take(rules), splits);
    }
    table.splits = splits.clone();
    for (service, split) in splits {
        let p = table.policies.entry(service.clone()).or_default();
        let base = p.policy.clone();
        p.subsets.insert(
            STABLE.into(),
            SubsetPolicy {
                labels: BTreeMap::new(),
                absent: vec![CANARY_LABEL.into()],
                policy: base.clone(),
            },
        );
        let labels = BTreeMap::from([(CANARY_LABEL.to_string(), split.deployment.clone())]);
        if let Some((delay, percent)) = split.canary_delay {
            let d = (delay, f64::from(percent.min(100)));
            table.canary_delays.insert(split.deployment.clone(), d);
        }
        for subset in [CANARY, MIRROR] {
            p.subsets.insert(
                subset.into(),
                SubsetPolicy {
                    labels: labels.clone(),
                    absent: Vec::new(),
                    policy: base.clone(),
                },
            );
        }
    }
}

/// `rules` with their route copies, split.
fn split_rules(rules: Vec<Rule>, splits: &BTreeMap<ServiceKey, Split>) -> Vec<Rule> {
    let expanded = rules.into_iter().flat_map(|r| expand(r, splits));
    expanded
        .map(|mut r| {
            split_rule(&mut r, splits);
            r
        })
        .collect()
}

/// The rules for mesh traffic to a Service without rules of its own:
/// its `default` rule, split (with the routes' copies) while a canary of
/// the Service runs.
pub(crate) fn fallback_rules(table: &RouteTable, default: Rule) -> Vec<Rule> {
    if table.splits.is_empty() {
        return vec![default];
    }
    split_rules(vec![default], &table.splits)
}

fn split_rule(rule: &mut Rule, splits: &BTreeMap<ServiceKey, Split>) {
    let Action::Forward(fwd) = &mut rule.action else {
        return;
    };
    let mut out = Vec::with_capacity(fwd.destinations.len() + 1);
    for wd in fwd.destinations.drain(..) {
        let split = splits.get(&wd.dest.service);
        let Some(split) = split.filter(|_| wd.dest.subset.is_none()) else {
            // Weights of untouched destinations keep their proportion.
            out.push(WeightedDestination {
                weight: wd.weight * 100,
                ..wd
            });
            continue;
        };
        let canary = split.canary_weight.min(100);
        for (subset, share) in [(STABLE, 100 - canary), (CANARY, canary)] {
            if share == 0 {
                continue;
            }
            let mut d = wd.clone();
            d.dest.subset = Some(subset.into());
            d.weight = wd.weight * share;
            out.push(d);
        }
    }
    fwd.destinations = out;
}

/// The delay a canary's `ferryFault` adds to this call of one of its pods
/// to a Service (rolled per request), if any.
pub(crate) fn canary_delay(
    table: &RouteTable,
    direction: &crate::proxy::Direction,
) -> Option<std::time::Duration> {
    if table.canary_delays.is_empty() {
        return None;
    }
    let crate::proxy::Direction::Mesh { source, .. } = direction else {
        return None;
    };
    let (delay, percent) = table.canary_delays.get(source.labels.get(CANARY_LABEL)?)?;
    crate::select::hit(*percent, fastrand::f64()).then_some(*delay)
}

impl TrafficSplits for Gateway {
    fn set_split(&self, service: &ServiceKey, split: Option<Split>) {
        let inner = &self.inner;
        {
            let mut splits = inner.splits.splits.lock_or_recover();
            match split {
                Some(s) => {
                    inner
                        .splits
                        .counters
                        .lock_or_recover()
                        .entry(service.clone())
                        .or_default();
                    splits.insert(service.clone(), s);
                }
                None => {
                    splits.remove(service);
                }
            }
        }
        let objects = inner.objects.lock_or_recover().clone();
        match crate::compile::compile(&objects) {
            Ok(mut table) => {
                inner.splits.overlay(&mut table);
                inner.table.store(Arc::new(table));
            }
            Err(e) => {
                tracing::error!(error = %e, "canary split: the accepted routes no longer compile")
            }
        }
    }

    fn stats(&self, service: &ServiceKey) -> Option<SplitStats> {
        let c = self
            .inner
            .splits
            .counters
            .lock_or_recover()
            .get(service)
            .cloned()?;
        Some(SplitStats {
            stable: c.stable.read(),
            canary: c.canary.read(),
            mirror: c.mirror.read(),
        })
    }
}

#[cfg(test)]
#[path = "canary_tests.rs"]
mod tests;
