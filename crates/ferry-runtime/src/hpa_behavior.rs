//! An HPA's `behavior` as Kubernetes applies it, pure: the stabilization
//! windows (the highest recommendation of the scale-down window, the lowest
//! of the scale-up window, bound the current replicas) and the scaling
//! policies (Pods or Percent per `periodSeconds`, chosen by `selectPolicy`)
//! that limit how fast the count may change, counted from the scale events
//! of each policy's period. Defaults are Kubernetes': scale-down waits
//! 300 s and may remove 100 % per 15 s; scale-up does not wait and may add
//! the more of 100 % and 4 pods per 15 s.

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};

use crate::hpa_plan::Condition;

/// How policies combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

/// One scaling policy: at most `value` pods (or percent) per `period` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub percent: bool,
    pub value: i32,
    pub period: i64,
}

/// One direction's rules, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub window: i64,
    pub select: Select,
    pub policies: Vec<Policy>,
}

/// Both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

impl Behavior {
    /// The behavior of a spec, Kubernetes' defaults where unset.
    pub fn of(spec: Option<&HorizontalPodAutoscalerBehavior>) -> Self {
        let up_default = Rules {
            window: 0,
            select: Select::Max,
            policies: vec![
                Policy {
                    percent: true,
                    value: 100,
                    period: 15,
                },
                Policy {
                    percent: false,
                    value: 4,
                    period: 15,
                },
            ],
        };
        let down_default = Rules {
            window: 300,
            select: Select::Max,
            policies: vec![Policy {
                percent: true,
                value: 100,
                period: 15,
            }],
        };
        Self {
            up: rules(spec.and_then(|b| b.scale_up.as_ref()), up_default),
            down: rules(spec.and_then(|b| b.scale_down.as_ref()), down_default),
        }
    }
}

fn rules(spec: Option<&HPAScalingRules>, default: Rules) -> Rules {
    let Some(s) = spec else { return default };
    let policies: Vec<Policy> = s
        .policies
        .iter()
        .flatten()
        .map(|p| Policy {
            percent: p.type_ == "Percent",
            value: p.value,
            period: p.period_seconds.into(),
        })
        .collect();
    Rules {
        window: s
            .stabilization_window_seconds
            .map_or(default.window, i64::from),
        select: match s.select_policy.as_deref() {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            _ => Select::Max,
        },
        policies: if policies.is_empty() {
            default.policies
        } else {
            policies
        },
    }
}

/// What one HPA remembers between syncs (in memory, as Kubernetes does):
/// recent recommendations and scale events.
#[derive(Debug, Clone, Default)]
pub struct History {
    recommendations: Option<Vec<(i32, DateTime<Utc>)>>,
    ups: Vec<(i32, DateTime<Utc>)>,
    downs: Vec<(i32, DateTime<Utc>)>,
}

impl History {
    /// Records a change of the target from `from` to `to` replicas.
    pub fn scaled(&mut self, b: &Behavior, from: i32, to: i32, now: DateTime<Utc>) {
        let (events, rules, change) = if to > from {
            (&mut self.ups, &b.up, to - from)
        } else {
            (&mut self.downs, &b.down, from - to)
        };
        let longest = rules.policies.iter().map(|p| p.period).max().unwrap_or(0);
        events.retain(|(_, t)| *t > now - Duration::seconds(longest));
        events.push((change, now));
    }
}

/// What [`normalize`] needs.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    pub current: i32,
    pub desired: i32,
    pub min: i32,
    pub max: i32,
    /// The HPA's `status.currentReplicas` (seeds the scale-down window).
    pub status_replicas: i32,
    pub now: DateTime<Utc>,
}

/// Stabilizes and rate-limits `args.desired`; pushes the AbleToScale and
/// ScalingLimited conditions.
pub fn normalize(b: &Behavior, h: &mut History, a: Args, out: &mut Vec<Condition>) -> i32 {
    if b.down.window > 0 && h.recommendations.is_none() {
        // As Kubernetes: no scale-down right after the controller starts.
        h.recommendations = Some(vec![(a.status_replicas, a.now)]);
    }
    let (stabilized, reason, message) = stabilize(b, h, a);
    out.push(if stabilized != a.desired {
        Condition::new("AbleToScale", true, reason, message)
    } else {
        Condition::new(
            "AbleToScale",
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        )
    });
    let (desired, reason, message) = limit(
        b,
        h,
        Args {
            desired: stabilized,
            ..a
        },
    );
    out.push(Condition::new(
        "ScalingLimited",
        desired != stabilized,
        reason,
        message,
    ));
    desired
}

fn stabilize(b: &Behavior, h: &mut History, a: Args) -> (i32, &'static str, &'static str) {
    let up_cutoff = a.now - Duration::seconds(b.up.window);
    let down_cutoff = a.now - Duration::seconds(b.down.window);
    let (mut up, mut down) = (a.desired, a.desired);
    let recs = h.recommendations.get_or_insert_default();
    let mut old = None;
    for (i, (r, t)) in recs.iter().enumerate() {
        if *t > up_cutoff {
            up = up.min(*r);
        }
        if *t > down_cutoff {
            down = down.max(*r);
        }
        if *t < up_cutoff && *t < down_cutoff {
            old = Some(i);
        }
    }
    let recommendation = a.current.max(up).min(down);
    match old {
        Some(i) => recs[i] = (a.desired, a.now),
        None => recs.push((a.desired, a.now)),
    }
    if a.desired >= a.current {
        (
            recommendation,
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        )
    } else {
        (
            recommendation,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        )
    }
}

fn limit(b: &Behavior, h: &History, a: Args) -> (i32, &'static str, &'static str) {
    if a.desired > a.current {
        let most = up_limit(&b.up, h, a.current, a.now).max(a.current);
        let (allowed, reason, message) = if a.max > most {
            (
                most,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                a.max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if a.desired > allowed {
            return (allowed, reason, message);
        }
    } else if a.desired < a.current {
        let least = down_limit(&b.down, h, a.current, a.now).min(a.current);
        let (allowed, reason, message) = if a.min < least {
            (
                least,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                a.min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if a.desired < allowed {
            return (allowed, reason, message);
        }
    }
    (
        a.desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
}

/// Replicas at the start of `period` seconds before `now`.
fn period_start(h: &History, current: i32, period: i64, now: DateTime<Utc>) -> i32 {
    let cutoff = now - Duration::seconds(period);
    let sum = |ev: &[(i32, DateTime<Utc>)]| -> i32 {
        ev.iter().filter(|(_, t)| *t > cutoff).map(|(n, _)| n).sum()
    };
    current - sum(&h.ups) + sum(&h.downs)
}

fn up_limit(r: &Rules, h: &History, current: i32, now: DateTime<Utc>) -> i32 {
    let proposals = r.policies.iter().map(|p| {
        let start = period_start(h, current, p.period, now);
        if p.percent {
            (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
        } else {
            start + p.value
        }
    });
    match r.select {
        Select::Disabled => current,
        Select::Min => proposals.min().unwrap_or(current),
        Select::Max => proposals.max().unwrap_or(current),
    }
}

fn down_limit(r: &Rules, h: &History, current: i32, now: DateTime<Utc>) -> i32 {
    let proposals = r.policies.iter().map(|p| {
        let start = period_start(h, current, p.period, now);
        if p.percent {
            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
        } else {
            start - p.value
        }
    });
    match r.select {
        Select::Disabled => current,
        // The smallest change is the highest count.
        Select::Min => proposals.max().unwrap_or(current),
        Select::Max => proposals.min().unwrap_or(current),
    }
}
