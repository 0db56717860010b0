//! One analysis measurement, pure: the canary's answers between two reads
//! of the gateway's counters (success rate, p99 latency from its latency
//! buckets), judged against `canary.analysis` — Pass, Fail, or
//! Inconclusive when fewer than `minRequests` requests reached the canary.

use ferry_core::rollout_spec::AnalysisSpec;
use ferry_core::traffic::{LATENCY_BUCKETS, SideStats};
use serde::Serialize;

/// How a measurement was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

/// One measurement over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub requests: u64,
    pub errors: u64,
    /// Non-5xx share of the window's canary answers (1 with none).
    pub success_rate: f64,
    /// Upper bound of the bucket holding the 99th percentile, seconds.
    pub latency_p99: Option<f64>,
    pub verdict: Verdict,
    /// Why it failed: the metric, its value and its threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Judges the canary's answers between `before` and `after`.
pub fn measure(before: &SideStats, after: &SideStats, spec: &AnalysisSpec) -> Measurement {
    let requests = after.requests.saturating_sub(before.requests);
    let errors = after.errors.saturating_sub(before.errors);
    let window: Vec<u64> = (0..=LATENCY_BUCKETS.len())
        .map(|i| {
            let a = after.latency.get(i).copied().unwrap_or(0);
            a.saturating_sub(before.latency.get(i).copied().unwrap_or(0))
        })
        .collect();
    let success_rate = if requests == 0 {
        1.0
    } else {
        1.0 - errors as f64 / requests as f64
    };
    let latency_p99 = quantile(&window, 0.99);
    let mut m = Measurement {
        requests,
        errors,
        success_rate,
        latency_p99,
        verdict: Verdict::Pass,
        reason: None,
    };
    if requests < spec.min_requests {
        m.verdict = Verdict::Inconclusive;
        return m;
    }
    if success_rate < spec.success_rate {
        m.verdict = Verdict::Fail;
        m.reason = Some(format!(
            "success rate {success_rate:.3} < {} ({errors} of {requests} canary requests answered 5xx)",
            spec.success_rate
        ));
    } else if let (Some(max), Some(p99)) = (spec.latency_p99, latency_p99)
        && p99 > max.0.as_secs_f64()
    {
        m.verdict = Verdict::Fail;
        m.reason = Some(format!(
            "latency p99 {:.0} ms > {} ms over {requests} canary requests",
            p99 * 1000.0,
            max.0.as_millis()
        ));
    }
    m
}

/// The upper bound of the bucket holding quantile `q` (the last bucket,
/// beyond the largest bound, reads as infinity).
fn quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil() as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::rollout_spec::DurationText;
    use std::time::Duration;

    fn side(requests: u64, errors: u64, slow: u64) -> SideStats {
        let mut latency = vec![0; LATENCY_BUCKETS.len() + 1];
        latency[2] = requests - slow; // ≤ 5 ms
        latency[9] += slow; // ≤ 1 s
        SideStats {
            requests,
            errors,
            latency,
        }
    }

    fn spec() -> AnalysisSpec {
        AnalysisSpec {
            min_requests: 10,
            success_rate: 0.95,
            latency_p99: Some(DurationText(Duration::from_millis(500))),
            ..AnalysisSpec::default()
        }
    }

    #[test]
    fn a_window_is_the_difference_of_two_reads() {
        let m = measure(&side(100, 50, 0), &side(200, 51, 0), &spec());
        assert_eq!((m.requests, m.errors), (100, 1));
        assert_eq!(m.verdict, Verdict::Pass);
        assert_eq!(m.latency_p99, Some(0.005));
    }

    #[test]
    fn twenty_percent_errors_fail_with_the_metric_and_its_values() {
        let m = measure(&side(0, 0, 0), &side(50, 10, 0), &spec());
        assert_eq!(m.verdict, Verdict::Fail);
        assert_eq!(
            m.reason.unwrap(),
            "success rate 0.800 < 0.95 (10 of 50 canary requests answered 5xx)"
        );
    }

    #[test]
    fn slow_answers_fail_on_p99_and_few_requests_are_inconclusive() {
        let m = measure(&side(0, 0, 0), &side(100, 0, 5), &spec());
        assert_eq!(m.verdict, Verdict::Fail);
        assert!(
            m.reason
                .unwrap()
                .starts_with("latency p99 1000 ms > 500 ms")
        );
        let m = measure(&side(0, 0, 0), &side(9, 9, 0), &spec());
        assert_eq!(m.verdict, Verdict::Inconclusive);
    }
}
