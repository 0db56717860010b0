//! Pre-warming of Knative revisions that start at zero. ferry allows
//! `autoscaling.knative.dev/initial-scale: "0"` (Knative's
//! `allow-zero-initial-scale: true`): such a revision runs no pod until
//! its first request. So that first cold start does not pay for the image,
//! the runtime pulls and unpacks every container image of the revision
//! into its store and rootfs cache as soon as the revision exists
//! (annotation `ferry.dev/prewarm`, default `"true"`; `"false"` turns it
//! off), and the revision is Ready once that is done. A revision starting
//! with pods needs no pre-warming: its first pod pulls the image before
//! any request reaches it. A failed pre-warm is retried after
//! [`RETRY_AFTER`]; after a restart, revisions are pre-warmed again (a
//! store lookup when the image is already there).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::mesh::ServiceKey;
use ferry_core::sync::MutexExt;
use serde_json::Value;

use crate::images::PullPolicy;
use crate::knative_spec::ScaleSettings;
use crate::runtime::Inner;

/// The annotation turning pre-warming off (`"false"`) for a revision.
pub const PREWARM: &str = "ferry.dev/prewarm";

/// Wait before a failed pre-warm is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where a revision's pre-warm is.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Pulling,
    Done,
    Failed { why: String, at: Instant },
}

/// Pre-warm states by revision Service.
#[derive(Debug, Default)]
pub struct Prewarms(Arc<Mutex<HashMap<ServiceKey, State>>>);

impl Prewarms {
    /// Forgets revisions that no longer exist.
    pub fn retain(&self, live: impl Fn(&ServiceKey) -> bool) {
        self.0.lock_or_recover().retain(|k, _| live(k));
    }
}

/// Whether a revision with these settings and annotations is pre-warmed.
pub fn wanted(settings: &ScaleSettings, rev: &Value) -> bool {
    let key = format!("/metadata/annotations/{}", PREWARM.replace('/', "~1"));
    settings.initial == 0 && rev.pointer(&key).and_then(Value::as_str) != Some("false")
}

/// The revision's pre-warm state; starts (or retries) it when due.
pub fn ensure(inner: &Arc<Inner>, key: &ServiceKey, rev: &Value) -> State {
    let states = inner.serving.prewarms.0.clone();
    {
        let mut map = states.lock_or_recover();
        match map.get(key) {
            Some(State::Failed { at, .. }) if at.elapsed() >= RETRY_AFTER => {}
            Some(s) => return s.clone(),
            None => {}
        }
        map.insert(key.clone(), State::Pulling);
    }
    let images: Vec<(String, PullPolicy)> = rev
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let image = c["image"].as_str()?.to_string();
            let policy = PullPolicy::resolve(c["imagePullPolicy"].as_str(), &image);
            Some((image, policy))
        })
        .collect();
    let (inner, key) = (inner.clone(), key.clone());
    tokio::spawn(async move {
        let started = Instant::now();
        let mut state = State::Done;
        for (image, policy) in &images {
            if let Err(e) = inner.images.get(image, *policy).await {
                let why = format!("cannot pre-warm image \"{image}\": {e}");
                inner.event(
                    "Revision",
                    &key.namespace,
                    &key.name,
                    true,
                    "PrewarmFailed",
                    why.clone(),
                );
                state = State::Failed {
                    why,
                    at: Instant::now(),
                };
                break;
            }
        }
        if state == State::Done {
            let names: Vec<&str> = images.iter().map(|(i, _)| i.as_str()).collect();
            let message = format!(
                "pulled and unpacked {} in {:.1} ms before any request",
                names.join(", "),
                started.elapsed().as_secs_f64() * 1e3
            );
            inner.event(
                "Revision",
                &key.namespace,
                &key.name,
                false,
                "Prewarmed",
                message,
            );
        }
        if let Some(s) = states.lock_or_recover().get_mut(&key) {
            *s = state;
        }
        inner.kick();
    });
    State::Pulling
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_revisions_starting_at_zero_are_prewarmed_unless_opted_out() {
        let mut s = ScaleSettings::of(None, 0);
        let plain = json!({"metadata": {}});
        let off = json!({"metadata": {"annotations": {PREWARM: "false"}}});
        assert!(!wanted(&s, &plain), "initial-scale 1: its first pod pulls");
        s.initial = 0;
        assert!(wanted(&s, &plain));
        assert!(!wanted(&s, &off));
    }
}
