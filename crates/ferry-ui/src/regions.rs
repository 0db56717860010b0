//! Whether each region run by another process answers, for the overview.
//!
//! The server probes each remote region's API (`GET /api/v1` with the
//! region's CA and token, as promotion gates ask it) and [`record`]s every
//! answer here; this file only keeps the state: up with the version the
//! region reported, or unreachable since the first failed probe after the
//! last success (a success or failure repeated keeps its `since`). Regions
//! this process runs are up by definition and are not recorded.
//!
//! [`record`]: RegionStates::record

use std::collections::BTreeMap;
use std::sync::Mutex;

use ferry_core::sync::MutexExt;

/// What the last probe of a region said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The last probe had an answer.
    pub up: bool,
    /// When the region entered this state (Unix ms).
    pub since_ms: u64,
    /// When it was last probed (Unix ms).
    pub checked_ms: u64,
    /// `ferryVersion` of its answer (up), or the last one known.
    pub version: Option<String>,
    /// Why the last probe failed (unreachable).
    pub error: Option<String>,
}

/// The probes' findings, region by region.
#[derive(Debug, Default)]
pub struct RegionStates {
    seen: Mutex<BTreeMap<String, Seen>>,
}

impl RegionStates {
    pub fn new() -> RegionStates {
        RegionStates::default()
    }

    /// Records a probe of `region` at `now_ms`: `Ok(version)` or
    /// `Err(why)`.
    pub fn record(&self, region: &str, answer: Result<String, String>, now_ms: u64) {
        let mut seen = self.seen.lock_or_recover();
        let before = seen.get(region).cloned();
        let up = answer.is_ok();
        let since_ms = match &before {
            Some(b) if b.up == up => b.since_ms,
            _ => now_ms,
        };
        let (version, error) = match answer {
            Ok(v) => (Some(v), None),
            Err(e) => (before.and_then(|b| b.version), Some(e)),
        };
        seen.insert(
            region.to_string(),
            Seen {
                up,
                since_ms,
                checked_ms: now_ms,
                version,
                error,
            },
        );
    }

    /// What the last probe of `region` said (`None`: not probed yet).
    pub fn get(&self, region: &str) -> Option<Seen> {
        self.seen.lock_or_recover().get(region).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_when_the_state_last_changed() {
        let s = RegionStates::new();
        assert_eq!(s.get("us"), None);
        s.record("us", Ok("0.1.0".into()), 1_000);
        s.record("us", Ok("0.1.1".into()), 2_000);
        let up = s.get("us").unwrap();
        assert!(up.up);
        assert_eq!((up.since_ms, up.checked_ms), (1_000, 2_000));
        assert_eq!(up.version.as_deref(), Some("0.1.1"));

        s.record("us", Err("refused".into()), 3_000);
        s.record("us", Err("timed out".into()), 4_000);
        let down = s.get("us").unwrap();
        assert!(!down.up);
        assert_eq!((down.since_ms, down.checked_ms), (3_000, 4_000));
        assert_eq!(down.error.as_deref(), Some("timed out"));
        assert_eq!(down.version.as_deref(), Some("0.1.1"), "the last known");

        s.record("us", Ok("0.1.1".into()), 5_000);
        let back = s.get("us").unwrap();
        assert!(back.up && back.error.is_none());
        assert_eq!(back.since_ms, 5_000);
    }
}
