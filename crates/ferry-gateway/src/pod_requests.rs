//! Requests answered per pod, for the runtime's HorizontalPodAutoscaler
//! (`ferry_core::pod_load`). Each endpoint of a resolved Service snapshot
//! holds its pod's counter, so counting a request is one atomic add; the
//! counters of pods that left every Service are dropped when the next
//! snapshot is resolved.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_core::mesh::ServiceSnapshot;
use ferry_core::pod_load::PodRequestCounts;
use ferry_core::sync::MutexExt;

/// One pod's count.
pub type Counter = Arc<AtomicU64>;

/// Counters by `(namespace, pod)`. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct PodRequests {
    map: Arc<Mutex<HashMap<(String, String), Counter>>>,
}

impl PodRequests {
    /// The counter of `pod` in `namespace`, created at zero.
    pub fn counter(&self, namespace: &str, pod: &str) -> Counter {
        self.map
            .lock_or_recover()
            .entry((namespace.to_string(), pod.to_string()))
            .or_default()
            .clone()
    }

    /// Drops the counters of pods no Service of `snapshot` has as endpoint.
    pub fn retain(&self, snapshot: &ServiceSnapshot) {
        let live: BTreeSet<(&str, &str)> = snapshot
            .services
            .iter()
            .flat_map(|(k, s)| {
                s.endpoints
                    .iter()
                    .map(|e| (k.namespace.as_str(), e.pod.as_str()))
            })
            .collect();
        self.map
            .lock_or_recover()
            .retain(|(ns, pod), _| live.contains(&(ns.as_str(), pod.as_str())));
    }
}

impl PodRequestCounts for PodRequests {
    fn answered(&self, namespace: &str, pod: &str) -> Option<u64> {
        let map = self.map.lock_or_recover();
        let n = map
            .get(&(namespace.to_string(), pod.to_string()))?
            .load(Ordering::Relaxed);
        (n > 0).then_some(n)
    }
}

/// Counts one answered request.
pub fn count(counter: &Counter) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey};

    fn snapshot(pods: &[&str]) -> ServiceSnapshot {
        let key = ServiceKey {
            namespace: "shop".into(),
            name: "web".into(),
        };
        let endpoints = pods
            .iter()
            .map(|p| Endpoint {
                pod: (*p).into(),
                labels: Default::default(),
                ready: true,
                netns: None,
                ip: "127.0.0.1".parse().unwrap(),
                ports: Default::default(),
            })
            .collect();
        let entry = ServiceEntry {
            key: key.clone(),
            vip: "127.77.0.2".parse().unwrap(),
            ports: vec![],
            endpoints,
        };
        ServiceSnapshot {
            services: [(key, entry)].into_iter().collect(),
        }
    }

    #[test]
    fn counts_per_pod_and_forgets_pods_that_left() {
        let r = PodRequests::default();
        let a = r.counter("shop", "web-a");
        count(&a);
        count(&a);
        count(&r.counter("shop", "web-b"));
        assert_eq!(r.answered("shop", "web-a"), Some(2));
        assert_eq!(r.answered("shop", "web-b"), Some(1));
        assert_eq!(r.answered("other", "web-a"), None);
        r.retain(&snapshot(&["web-a"]));
        assert_eq!(r.answered("shop", "web-a"), Some(2));
        assert_eq!(r.answered("shop", "web-b"), None);
    }
}
