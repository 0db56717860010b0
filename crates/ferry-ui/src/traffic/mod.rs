//! The traffic page's data: the region gateway's route table (what its
//! applied Ingresses, HTTPRoutes and VirtualServices compiled to) and,
//! per destination of every rule, the last 15 minutes of request rate,
//! success rate and p99 from the gateway's own metrics.
//!
//! A [`Sampler`] reads the gateway's counters and histograms every
//! [`TrafficSource::every`] (10 s) into bounded [`ring::Rings`] (90 points
//! per destination, 512 destinations); [`rules`] joins them with the table
//! for the page (`pages::traffic`).

pub mod ring;
pub mod scrape;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::sync::MutexExt;
use ferry_gateway::table::{Action, RouteTable, Rule};
use tokio_util::sync::CancellationToken;

use ring::{Point, Rings};
use scrape::{DestKey, Scraper};

/// Samples kept per destination: 15 minutes at 10 s.
pub const POINTS: usize = 90;
/// Destinations kept at most.
pub const MAX_SERIES: usize = 512;

/// Where the traffic page reads from: a region's gateway.
#[derive(Clone)]
pub struct TrafficSource {
    pub metrics: ferry_gateway::metrics::Metrics,
    /// The gateway's current route table.
    pub table: Arc<dyn Fn() -> Arc<RouteTable> + Send + Sync>,
    /// How often the metrics are sampled.
    pub every: Duration,
}

impl std::fmt::Debug for TrafficSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficSource")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl TrafficSource {
    /// The source of a running gateway, sampled every 10 s.
    pub fn of(gateway: ferry_gateway::Gateway) -> TrafficSource {
        TrafficSource {
            metrics: gateway.metrics().clone(),
            table: Arc::new(move || gateway.table()),
            every: Duration::from_secs(10),
        }
    }
}

/// The rings, fed from the gateway's metrics.
#[derive(Debug)]
pub struct Sampler {
    scraper: Scraper,
    rings: Mutex<Rings>,
}

impl Sampler {
    pub fn new(source: &TrafficSource) -> Sampler {
        Sampler {
            scraper: Scraper::new(&source.metrics),
            rings: Mutex::new(Rings::new(POINTS, MAX_SERIES)),
        }
    }

    /// Reads the metrics as of `now` (Unix seconds).
    pub fn sample(&self, now: f64) {
        let totals = self.scraper.read();
        self.rings.lock_or_recover().push(now, totals);
    }

    /// The samples of `key`, oldest first.
    pub fn series(&self, key: &DestKey) -> Vec<Point> {
        self.rings.lock_or_recover().series(key)
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Samples every `every` until `shutdown`.
pub async fn run(sampler: Arc<Sampler>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => sampler.sample(now()),
        }
    }
}

/// One rule of the table as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleView {
    /// `north` or `mesh`.
    pub direction: String,
    /// Host pattern (north) or `namespace/service` (mesh).
    pub host: String,
    /// Its match blocks in brief (`*` for everything).
    pub matches: Vec<String>,
    /// Where it goes, with weights (`svc.ns[v1] 90%, …`), or a redirect or
    /// direct answer.
    pub target: String,
    /// Faults, mirrors, retries, timeout.
    pub policies: String,
    /// The rule's name (`Kind/namespace/name/rule`).
    pub rule: String,
    pub destinations: Vec<DestView>,
}

/// One weighted destination of a rule and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct DestView {
    pub key: DestKey,
    /// Its share of the rule's traffic, in percent.
    pub percent: f64,
    pub points: Vec<Point>,
}

/// The table's rules in evaluation order (north, then mesh) with their
/// destinations' samples from `series`.
pub fn rules(table: &RouteTable, series: impl Fn(&DestKey) -> Vec<Point>) -> Vec<RuleView> {
    let mut rows = ferry_gateway::routes::rows(table).into_iter();
    let mut out = Vec::new();
    let north = table.north.iter().flat_map(|vh| {
        vh.rules
            .iter()
            .map(move |r| ("north", vh.host.to_string(), r))
    });
    let mesh = table
        .mesh
        .iter()
        .flat_map(|(svc, rules)| rules.iter().map(move |r| ("mesh", svc.to_string(), r)));
    for (direction, host, rule) in north.chain(mesh) {
        // `rows` gives one row per match block (one for none), in this order.
        let n = rule.matches.len().max(1);
        let mine: Vec<_> = rows.by_ref().take(n).collect();
        let Some(first) = mine.first() else { break };
        out.push(RuleView {
            direction: direction.into(),
            host,
            target: first.target.clone(),
            policies: first.policies.clone(),
            rule: rule.name.clone(),
            matches: mine.iter().map(|r| r.matches.clone()).collect(),
            destinations: destinations(rule, &series),
        });
    }
    out
}

fn destinations(rule: &Rule, series: &impl Fn(&DestKey) -> Vec<Point>) -> Vec<DestView> {
    let Action::Forward(f) = &rule.action else {
        return vec![];
    };
    let total: u32 = f.destinations.iter().map(|d| d.weight).sum::<u32>().max(1);
    f.destinations
        .iter()
        .map(|d| {
            let key = DestKey {
                route: rule.name.clone(),
                service: format!("{}.{}", d.dest.service.name, d.dest.service.namespace),
                subset: d.dest.subset.clone().unwrap_or_default(),
            };
            DestView {
                points: series(&key),
                percent: f64::from(d.weight) * 100.0 / f64::from(total),
                key,
            }
        })
        .collect()
}
