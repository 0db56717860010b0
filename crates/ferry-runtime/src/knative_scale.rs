//! The Knative Pod Autoscaler's decision, pure: how many pods a revision
//! wants from the concurrency the gateway reported. Within the stable
//! `window` the revision keeps enough pods for the peak concurrency seen in
//! it (`ceil(peak / target)`, target after utilisation); a revision that has
//! had no request for a whole window goes to zero, its last pod lingering
//! for `scale-to-zero-pod-retention-period`; a request while at zero asks
//! for a pod at once; a new revision starts at `initial-scale`. `min-scale`
//! and `max-scale` bound everything.

use std::time::Duration;

use crate::knative_spec::ScaleSettings;

/// What the autoscaler knows of a revision's load.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observed {
    /// Requests in flight or held now.
    pub concurrency: u32,
    /// The highest concurrency within the last window (including now).
    pub peak: u32,
    /// Time since the revision last had a request in flight (or since it
    /// was created, if it never had one).
    pub idle_for: Duration,
    /// Whether it ever had a request.
    pub ever_active: bool,
}

/// The number of pods the revision should have, given it has `current`.
pub fn desired(s: &ScaleSettings, o: &Observed, current: u32) -> u32 {
    let for_peak = |c: u32| (f64::from(c) / s.target).ceil() as u32;
    let n = if o.concurrency > 0 {
        for_peak(o.peak.max(o.concurrency)).max(1)
    } else if o.idle_for < s.window {
        let base = if o.ever_active { 1 } else { s.initial };
        for_peak(o.peak).max(base)
    } else if o.idle_for < s.window + s.retention {
        current.min(1)
    } else {
        0
    };
    let n = n.max(s.min);
    match s.max {
        Some(max) => n.min(max.max(s.min)),
        None => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScaleSettings {
        ScaleSettings {
            min: 0,
            max: None,
            initial: 1,
            target: 7.0,
            window: Duration::from_secs(6),
            retention: Duration::ZERO,
        }
    }

    fn idle(secs: u64) -> Observed {
        Observed {
            idle_for: Duration::from_secs(secs),
            ever_active: true,
            ..Observed::default()
        }
    }

    #[test]
    fn a_new_revision_starts_at_initial_scale_then_goes_to_zero_after_the_window() {
        let new = Observed {
            ever_active: false,
            ..idle(1)
        };
        assert_eq!(desired(&settings(), &new, 0), 1);
        assert_eq!(desired(&settings(), &idle(5), 1), 1);
        assert_eq!(desired(&settings(), &idle(6), 1), 0);
    }

    #[test]
    fn a_request_at_zero_asks_for_a_pod_and_a_burst_for_enough_pods() {
        let one = Observed {
            concurrency: 1,
            peak: 1,
            ..idle(100)
        };
        assert_eq!(desired(&settings(), &one, 0), 1);
        let burst = Observed {
            concurrency: 50,
            peak: 50,
            ..idle(0)
        };
        assert_eq!(desired(&settings(), &burst, 1), 8);
        // The peak holds the pods for the window after the burst.
        let after = Observed {
            peak: 50,
            ..idle(2)
        };
        assert_eq!(desired(&settings(), &after, 8), 8);
    }

    #[test]
    fn bounds_and_retention_apply() {
        let mut s = settings();
        s.min = 2;
        assert_eq!(desired(&s, &idle(100), 0), 2);
        s.min = 0;
        s.max = Some(3);
        let burst = Observed {
            concurrency: 50,
            peak: 50,
            ..idle(0)
        };
        assert_eq!(desired(&s, &burst, 1), 3);
        s.retention = Duration::from_secs(10);
        assert_eq!(desired(&s, &idle(8), 2), 1);
        assert_eq!(desired(&s, &idle(8), 0), 0);
        assert_eq!(desired(&s, &idle(16), 1), 0);
    }
}
