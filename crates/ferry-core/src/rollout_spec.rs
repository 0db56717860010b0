//! An Environment's progressive delivery strategy, in Argo Rollouts'
//! vocabulary (`spec.strategy.canary`): ordered `steps` (`setWeight`,
//! `pause` with a `duration` or until promoted, `analysis`, and the
//! routing steps of [`crate::rollout_routes`]: `setHeaderRoute`,
//! `setMirrorRoute` and ferry's own `ferryFault`), a background
//! `analysis` measured on the gateway's own per-destination counters
//! (success rate, p99 latency) with a failure limit and a minimum request
//! count, and a `progressDeadlineSeconds` no step may outlast.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rollout_routes::{
    FerryFault, RouteNames, SetHeaderRoute, SetMirrorRoute, fault_problems, header_route_problems,
    mirror_route_problems,
};

/// `spec.strategy` of an Environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutStrategy {
    pub canary: CanaryStrategy,
}

/// `spec.strategy.canary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryStrategy {
    pub steps: Vec<CanaryStep>,
    /// Measured from the first step with traffic until promotion.
    #[serde(default)]
    pub analysis: AnalysisSpec,
    /// Longest any step may take (a timed pause: beyond its duration).
    #[serde(default = "default_deadline")]
    pub progress_deadline_seconds: u64,
}

fn default_deadline() -> u64 {
    600
}

/// One step; exactly one field set (as in Argo Rollouts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum CanaryStep {
    /// Percent of the Service's traffic sent to the canary (0–100).
    SetWeight(u32),
    /// `{duration: 30s}`, or `{}`: until `ferry app rollout promote`.
    Pause(PauseStep),
    /// Waits for `count` passing measurements of the analysis (of the
    /// mirrored requests while a mirror route is set).
    Analysis(AnalysisStep),
    /// Requests matching headers go to the canary (Argo's shape).
    SetHeaderRoute(SetHeaderRoute),
    /// A share of requests is mirrored to the canary (Argo's shape).
    SetMirrorRoute(SetMirrorRoute),
    /// A ferry extension, not Argo's: delays the canary's calls to Services.
    FerryFault(FerryFault),
}

/// `pause`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PauseStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
}

/// `analysis` as a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisStep {
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// `canary.analysis`: how each measurement is taken and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    /// Time between measurements; each covers the requests since the last.
    #[serde(default = "default_interval")]
    pub interval: DurationText,
    /// Failed measurements tolerated; one more fails the analysis.
    #[serde(default)]
    pub failure_limit: u32,
    /// Canary requests a measurement needs; fewer: inconclusive.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// Lowest canary success rate (non-5xx share, 0–1) that passes.
    #[serde(default = "default_success_rate")]
    pub success_rate: f64,
    /// Highest canary p99 latency that passes (none: not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99: Option<DurationText>,
}

// The thresholds are checked finite at validation; equality is exact.
impl Eq for AnalysisSpec {}

impl Default for AnalysisSpec {
    fn default() -> Self {
        Self {
            interval: default_interval(),
            failure_limit: 0,
            min_requests: default_min_requests(),
            success_rate: default_success_rate(),
            latency_p99: None,
        }
    }
}

fn default_interval() -> DurationText {
    DurationText(Duration::from_secs(10))
}

fn default_min_requests() -> u64 {
    10
}

fn default_success_rate() -> f64 {
    0.95
}

impl CanaryStrategy {
    /// Problems with values serde accepts: `(field path, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut names = RouteNames::default();
        for (i, s) in self.steps.iter().enumerate() {
            let at = format!("spec.strategy.canary.steps[{i}]");
            match s {
                CanaryStep::SetWeight(w) if *w > 100 => out.push((
                    format!("{at}.setWeight"),
                    format!("{w} is not a percentage (0-100)"),
                )),
                CanaryStep::SetHeaderRoute(r) => {
                    let at = format!("{at}.setHeaderRoute");
                    header_route_problems(&at, r, &mut out);
                    names.header(&at, r, &mut out);
                }
                CanaryStep::SetMirrorRoute(r) => {
                    let at = format!("{at}.setMirrorRoute");
                    mirror_route_problems(&at, r, &mut out);
                    names.mirror(&at, r, &mut out);
                }
                CanaryStep::FerryFault(f) => {
                    fault_problems(&format!("{at}.ferryFault"), f, &mut out)
                }
                _ => {}
            }
        }
        let a = &self.analysis;
        if !(0.0..=1.0).contains(&a.success_rate) {
            out.push((
                "spec.strategy.canary.analysis.successRate".into(),
                format!("{} is not a share between 0 and 1", a.success_rate),
            ));
        }
        if a.interval.0.is_zero() {
            out.push((
                "spec.strategy.canary.analysis.interval".into(),
                "must be longer than 0".into(),
            ));
        }
        out
    }
}

/// A duration written `30s`, `500ms`, `2m` or as whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl DurationText {
    /// Parses `500ms`, `30s`, `2m`, `1h` or a number of seconds.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = num.parse().ok()?;
        let d = match unit {
            "" | "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        Some(Self(d))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Self(Duration::from_secs(n))),
            Raw::Text(t) => Self::parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {t:?} (use forms like 30s, 500ms, 2m)"
                ))
            }),
        }
    }
}

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argo_steps_parse() {
        let y = "steps:\n- setWeight: 20\n- pause: {duration: 30s}\n- pause: {}\n- analysis: {count: 2}\nanalysis: {interval: 500ms, failureLimit: 1, minRequests: 5, successRate: 0.9, latencyP99: 2}\n";
        let c: CanaryStrategy = serde_saphyr::from_str(y).unwrap();
        assert_eq!(c.steps[0], CanaryStep::SetWeight(20));
        assert_eq!(
            c.steps[1],
            CanaryStep::Pause(PauseStep {
                duration: Some(DurationText(Duration::from_secs(30)))
            })
        );
        assert_eq!(c.steps[2], CanaryStep::Pause(PauseStep::default()));
        assert_eq!(c.steps[3], CanaryStep::Analysis(AnalysisStep { count: 2 }));
        assert_eq!(c.analysis.interval.0, Duration::from_millis(500));
        assert_eq!(c.analysis.latency_p99.unwrap().0, Duration::from_secs(2));
        assert_eq!(c.progress_deadline_seconds, 600);
        assert!(c.problems().is_empty());
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let y = "steps:\n- setWeight: 120\nanalysis: {successRate: 1.5}\n";
        let c: CanaryStrategy = serde_saphyr::from_str(y).unwrap();
        let p = c.problems();
        assert_eq!(p[0].0, "spec.strategy.canary.steps[0].setWeight");
        assert_eq!(p[1].0, "spec.strategy.canary.analysis.successRate");
        assert!(DurationText::parse("3 fortnights").is_none());
    }
}
