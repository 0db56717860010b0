//! Readiness: each component registers a named flag and raises it once it
//! can serve; `/readyz` answers 200 only when every flag is up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Shared readiness flags of one region.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    flags: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Registers `component` as not ready yet.
    pub fn register(&self, component: &str) {
        self.lock().insert(component.to_string(), false);
    }

    /// Marks `component` ready (or not).
    pub fn set(&self, component: &str, ready: bool) {
        self.lock().insert(component.to_string(), ready);
    }

    /// Components that are registered and not ready, sorted.
    pub fn not_ready(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, up)| !**up)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.flags.lock().unwrap_or_else(|e| e.into_inner())
    }
}
