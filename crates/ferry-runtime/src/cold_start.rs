//! Cold-start visibility for Knative revisions: when a request finds a
//! revision at zero, the autoscaler notes the instant (`knative_load`); the
//! pod worker of each Knative pod marks its steps here ([`Marks`]), and once
//! a pod of the revision is ready the controller turns the first ready
//! pod's marks into phases that add up to the total:
//!
//! | phase | from → to |
//! |---|---|
//! | `schedule` | the request's report → the pod worker asks for images (pod object, worker, sandbox: netns, volumes, token) |
//! | `image` | images asked for → found in the store or pulled (unpacking excluded) |
//! | `rootfs` | layers unpacked into the rootfs cache, overlay mounted, bundle written → `runc run` called |
//! | `process` | `runc run` (create + start) → the container's pid |
//! | `readiness` | pid → the serving port accepts a connection and the container is Ready |
//!
//! Each phase and the total are observed in
//! `ferry_runtime_cold_start_seconds{phase=...}` and the last cold start is
//! kept in the Revision's `status.lastColdStart` (`ferry describe ksvc`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_core::sync::MutexExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde_json::{Value, json};

/// The phases in order.
pub const PHASES: [&str; 5] = ["schedule", "image", "rootfs", "process", "readiness"];

/// When each step of a pod's start happened (set once each: the first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    pub image_start: Option<Instant>,
    pub image_done: Option<Instant>,
    /// Unpacking inside the image step (counted as `rootfs`).
    pub unpack: Duration,
    pub rootfs_done: Option<Instant>,
    pub process: Option<Instant>,
    pub ready: Option<Instant>,
}

/// One measured cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Durations in [`PHASES`] order.
    pub phases: [Duration; 5],
    pub total: Duration,
}

impl Record {
    /// The phases of a pod's start for a scale from zero requested at
    /// `since`; `None` until the pod is ready or when it started before.
    pub fn of(since: Instant, m: &Marks) -> Option<Record> {
        let (a, b, r, p, ready) = (
            m.image_start?,
            m.image_done?,
            m.rootfs_done?,
            m.process?,
            m.ready?,
        );
        if a < since {
            return None;
        }
        let pulled = b.duration_since(a);
        let unpack = m.unpack.min(pulled);
        let phases = [
            a.duration_since(since),
            pulled - unpack,
            unpack + r.saturating_duration_since(b),
            p.saturating_duration_since(r),
            ready.saturating_duration_since(p),
        ];
        Some(Record {
            phases,
            total: phases.iter().sum(),
        })
    }

    /// As kept in a Revision's `status.lastColdStart`.
    pub fn to_status(&self, time: &str) -> Value {
        let phases: serde_json::Map<String, Value> = PHASES
            .iter()
            .zip(self.phases)
            .map(|(p, d)| (p.to_string(), json!(round(d))))
            .collect();
        json!({"time": time, "totalSeconds": round(self.total), "phaseSeconds": phases})
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// What [`ColdStarts::finish`] found among a revision's pods.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Done(Record),
    /// A pod started for it is not ready yet.
    Pending,
    /// No pod was started for it (one was running already, or adopted).
    Untracked,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// One of [`PHASES`], or `total`.
    pub phase: String,
}

/// The marks of Knative pods being started and the histogram.
#[derive(Debug)]
pub struct ColdStarts {
    marks: Mutex<HashMap<String, Marks>>,
    pub seconds: Family<PhaseLabels, Histogram, fn() -> Histogram>,
}

fn buckets() -> Histogram {
    // 1 ms … 32 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for ColdStarts {
    fn default() -> Self {
        Self {
            marks: Mutex::new(HashMap::new()),
            seconds: Family::new_with_constructor(buckets),
        }
    }
}

impl ColdStarts {
    /// Starts marking the pod with `uid` (a Knative pod started afresh).
    pub fn track(&self, uid: &str) {
        self.marks
            .lock_or_recover()
            .insert(uid.to_string(), Marks::default());
    }

    /// Stops marking the pod (torn down or adopted).
    pub fn forget(&self, uid: &str) {
        self.marks.lock_or_recover().remove(uid);
    }

    /// Updates the marks of a tracked pod; untracked pods are ignored.
    pub fn mark(&self, uid: &str, f: impl FnOnce(&mut Marks)) {
        if let Some(m) = self.marks.lock_or_recover().get_mut(uid) {
            f(m);
        }
    }

    /// Whether the pod is tracked and not marked ready yet.
    pub fn waiting_ready(&self, uid: &str) -> bool {
        self.marks
            .lock_or_recover()
            .get(uid)
            .is_some_and(|m| m.ready.is_none())
    }

    /// The cold start of a scale from zero requested at `since`, from the
    /// revision's pods `uids`: the first of them ready. Observes it.
    pub fn finish(&self, since: Instant, uids: &[String]) -> Finish {
        let marks = self.marks.lock_or_recover();
        let started: Vec<&Marks> = uids
            .iter()
            .filter_map(|u| marks.get(u))
            .filter(|m| m.image_start.is_none_or(|a| a >= since))
            .collect();
        let done = started
            .iter()
            .filter_map(|m| Some((m.ready?, Record::of(since, m)?)))
            .min_by_key(|(ready, _)| *ready);
        match done {
            Some((_, r)) => {
                self.observe(&r);
                Finish::Done(r)
            }
            None if started.is_empty() => Finish::Untracked,
            None => Finish::Pending,
        }
    }

    fn observe(&self, r: &Record) {
        for (p, d) in PHASES.iter().zip(r.phases) {
            let labels = PhaseLabels {
                phase: p.to_string(),
            };
            self.seconds.get_or_create(&labels).observe(d.as_secs_f64());
        }
        let total = PhaseLabels {
            phase: "total".into(),
        };
        self.seconds
            .get_or_create(&total)
            .observe(r.total.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn marks(t0: Instant) -> Marks {
        Marks {
            image_start: Some(t0 + ms(10)),
            image_done: Some(t0 + ms(40)),
            unpack: ms(25),
            rootfs_done: Some(t0 + ms(45)),
            process: Some(t0 + ms(60)),
            ready: Some(t0 + ms(90)),
        }
    }

    #[test]
    fn phases_add_up_to_the_total_with_unpacking_counted_as_rootfs() {
        let t0 = Instant::now();
        let r = Record::of(t0, &marks(t0)).unwrap();
        assert_eq!(r.phases, [ms(10), ms(5), ms(30), ms(15), ms(30)]);
        assert_eq!(r.total, ms(90));
        let s = r.to_status("t");
        assert_eq!(s["phaseSeconds"]["rootfs"], 0.03);
        assert_eq!(s["totalSeconds"], 0.09);
    }

    #[test]
    fn a_pod_not_ready_is_pending_and_one_started_before_is_not_counted() {
        let t0 = Instant::now();
        let c = ColdStarts::default();
        c.track("a");
        c.mark("a", |m| {
            *m = Marks {
                ready: None,
                ..marks(t0)
            }
        });
        assert_eq!(c.finish(t0, &["a".into()]), Finish::Pending);
        assert_eq!(c.finish(t0 + ms(20), &["a".into()]), Finish::Untracked);
        c.mark("a", |m| m.ready = Some(t0 + ms(90)));
        assert!(matches!(c.finish(t0, &["a".into()]), Finish::Done(_)));
        c.mark("b", |m| m.ready = Some(t0));
        assert_eq!(c.finish(t0, &["b".into()]), Finish::Untracked);
    }
}
