//! The runtime's clock: what "now" is for the Job and CronJob controllers
//! (deadlines, TTLs, schedules). The system clock by default; tests hand
//! the runtime a clock they move by hand to fire a schedule on a minute
//! boundary without waiting for one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use ferry_core::sync::MutexExt;

/// A source of the current time. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({:?})", self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self(Arc::new(SystemTime::now))
    }

    /// A clock that stands still at `start` until moved with the returned
    /// handle.
    pub fn manual(start: SystemTime) -> (Self, ManualClock) {
        let t = Arc::new(Mutex::new(start));
        let read = t.clone();
        (
            Self(Arc::new(move || *read.lock_or_recover())),
            ManualClock(t),
        )
    }

    /// Now.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }

    /// Now as a UTC date-time (whole seconds dropped below).
    pub fn utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now())
    }
}

/// Moves a [`Clock::manual`] clock.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    /// Sets the time.
    pub fn set(&self, t: SystemTime) {
        *self.0.lock_or_recover() = t;
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        *self.0.lock_or_recover() += d;
    }
}

/// An RFC 3339 timestamp in whole seconds, as the API server writes them.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
