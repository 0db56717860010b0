//! The Service snapshot as the proxy reads it: every endpoint's upstream
//! authority (`ip:port` on the host network, `pod.ns.pod:port` inside a
//! network namespace) built once per snapshot with its idle-connection slot
//! and registered with the connector, so a request finds its upstream by
//! Service and endpoint index with no string formatting, lookup or endpoint
//! comparison.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey, ServiceSnapshot};
use http::uri::Authority;

use super::client::Targets;
use super::h1::{Pool, Slot};
use crate::pod_requests::{Counter, PodRequests};

/// One Service with the upstreams of its endpoints.
#[derive(Debug)]
pub struct ResolvedService {
    pub entry: ServiceEntry,
    /// Per endpoint (in `entry.endpoints` order): container port → its
    /// idle-connection slot (which carries the authority).
    upstreams: Vec<Vec<(u16, Arc<Slot>)>>,
    /// Per endpoint: its pod's answered-requests counter (empty until
    /// [`Resolved::count_in`]).
    served: Vec<Counter>,
}

impl ResolvedService {
    /// The slot (and authority) of endpoint number `index` on `container_port`.
    pub fn upstream(&self, index: usize, container_port: u16) -> Option<&Arc<Slot>> {
        self.upstreams
            .get(index)?
            .iter()
            .find(|(p, _)| *p == container_port)
            .map(|(_, s)| s)
    }

    /// The answered-requests counter of endpoint number `index`.
    pub fn served(&self, index: usize) -> Option<&Counter> {
        self.served.get(index)
    }
}

/// A snapshot and its resolved Services.
#[derive(Debug, Default)]
pub struct Resolved {
    pub snapshot: Arc<ServiceSnapshot>,
    /// Looked up per request: a fast hasher (not SipHash; Service keys come
    /// from the cluster's own objects, not from requests).
    pub services: HashMap<ServiceKey, ResolvedService, foldhash::fast::RandomState>,
}

impl Resolved {
    /// Resolves `snapshot`, registering every authority with `targets` and
    /// taking its slot from `pool`.
    pub fn new(snapshot: Arc<ServiceSnapshot>, targets: &Targets, pool: &Pool) -> Self {
        let services = snapshot
            .services
            .iter()
            .map(|(key, entry)| {
                let upstreams = entry
                    .endpoints
                    .iter()
                    .map(|e| {
                        e.ports
                            .values()
                            .filter_map(|&port| {
                                let a = authority(&key.namespace, e, port)?;
                                targets.register(a.as_str(), e, port);
                                Some((port, pool.slot(&a)))
                            })
                            .collect()
                    })
                    .collect();
                let resolved = ResolvedService {
                    entry: entry.clone(),
                    upstreams,
                    served: Vec::new(),
                };
                (key.clone(), resolved)
            })
            .collect();
        Self { snapshot, services }
    }

    /// Gives every endpoint its pod's counter from `requests` (dropping the
    /// counters of pods that are no endpoint any more).
    pub fn count_in(mut self, requests: &PodRequests) -> Self {
        requests.retain(&self.snapshot);
        for (key, s) in &mut self.services {
            s.served = s
                .entry
                .endpoints
                .iter()
                .map(|e| requests.counter(&key.namespace, &e.pod))
                .collect();
        }
        self
    }
}

/// The authority naming `endpoint`'s `port` (`None` if it is not a valid one).
fn authority(service_ns: &str, endpoint: &Endpoint, port: u16) -> Option<Authority> {
    let text = match &endpoint.netns {
        None => SocketAddr::new(endpoint.ip, port).to_string(),
        Some(_) => format!("{}.{}.pod:{port}", endpoint.pod, service_ns),
    };
    Authority::try_from(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool::new(8, std::time::Duration::from_secs(60))
    }

    fn endpoint(pod: &str, netns: bool, ports: &[(u16, u16)]) -> Endpoint {
        Endpoint {
            pod: pod.into(),
            labels: Default::default(),
            ready: true,
            netns: netns.then(|| "/run/netns/x".into()),
            ip: "127.0.0.1".parse().unwrap(),
            ports: ports.iter().copied().collect(),
        }
    }

    fn snapshot(endpoints: Vec<Endpoint>) -> ServiceSnapshot {
        let key = ServiceKey {
            namespace: "shop".into(),
            name: "web".into(),
        };
        let entry = ServiceEntry {
            key: key.clone(),
            vip: "127.0.0.1".parse().unwrap(),
            ports: vec![],
            endpoints,
        };
        ServiceSnapshot {
            services: [(key, entry)].into(),
        }
    }

    #[test]
    fn upstreams_per_endpoint_and_port_are_registered_for_the_connector() {
        let targets = Targets::default();
        let snap = snapshot(vec![
            endpoint("web-a", false, &[(80, 9001), (81, 9002)]),
            endpoint("web-b", true, &[(80, 8080)]),
        ]);
        let r = Resolved::new(Arc::new(snap), &targets, &pool());
        let svc = r.services.values().next().unwrap();
        let authority = |i, p| svc.upstream(i, p).map(|s| s.authority.as_str());
        assert_eq!(authority(0, 9001), Some("127.0.0.1:9001"));
        assert_eq!(authority(0, 9002), Some("127.0.0.1:9002"));
        assert_eq!(authority(1, 8080), Some("web-b.shop.pod:8080"));
        assert!(authority(1, 9001).is_none());
        assert!(authority(2, 8080).is_none());
        let (e, port) = targets.get("web-b.shop.pod:8080").unwrap();
        assert_eq!((e.pod.as_str(), port), ("web-b", 8080));
    }

    #[test]
    fn a_changed_endpoint_replaces_the_registered_one() {
        let targets = Targets::default();
        Resolved::new(
            Arc::new(snapshot(vec![endpoint("old", false, &[(80, 9001)])])),
            &targets,
            &pool(),
        );
        Resolved::new(
            Arc::new(snapshot(vec![endpoint("new", false, &[(80, 9001)])])),
            &targets,
            &pool(),
        );
        assert_eq!(targets.get("127.0.0.1:9001").unwrap().0.pod, "new");
    }
}
