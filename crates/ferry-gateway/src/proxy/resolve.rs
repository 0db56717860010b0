//! The Service snapshot as the proxy reads it: every endpoint's upstream
//! authority (`ip:port` on the host network, `pod.ns.pod:port` inside a
//! network namespace) built once per snapshot and registered with the
//! connector, so a request finds its upstream by Service and endpoint index
//! with no string formatting, locking or endpoint comparison.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey, ServiceSnapshot};
use http::uri::Authority;

use super::client::Targets;

/// One Service with the authorities of its endpoints.
#[derive(Debug)]
pub struct ResolvedService {
    pub entry: ServiceEntry,
    /// Per endpoint (in `entry.endpoints` order): container port → authority.
    authorities: Vec<Vec<(u16, Authority)>>,
}

impl ResolvedService {
    /// The authority of endpoint number `index` on `container_port`.
    pub fn authority(&self, index: usize, container_port: u16) -> Option<&Authority> {
        self.authorities
            .get(index)?
            .iter()
            .find(|(p, _)| *p == container_port)
            .map(|(_, a)| a)
    }
}

/// A snapshot and its resolved Services.
#[derive(Debug, Default)]
pub struct Resolved {
    pub snapshot: Arc<ServiceSnapshot>,
    pub services: HashMap<ServiceKey, ResolvedService>,
}

impl Resolved {
    /// Resolves `snapshot`, registering every authority with `targets`.
    pub fn new(snapshot: Arc<ServiceSnapshot>, targets: &Targets) -> Self {
        let services = snapshot
            .services
            .iter()
            .map(|(key, entry)| {
                let authorities = entry
                    .endpoints
                    .iter()
                    .map(|e| {
                        e.ports
                            .values()
                            .filter_map(|&port| {
                                let a = authority(&key.namespace, e, port)?;
                                targets.register(a.as_str(), e, port);
                                Some((port, a))
                            })
                            .collect()
                    })
                    .collect();
                let resolved = ResolvedService {
                    entry: entry.clone(),
                    authorities,
                };
                (key.clone(), resolved)
            })
            .collect();
        Self { snapshot, services }
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
    fn authorities_per_endpoint_and_port_are_registered_for_the_connector() {
        let targets = Targets::default();
        let snap = snapshot(vec![
            endpoint("web-a", false, &[(80, 9001), (81, 9002)]),
            endpoint("web-b", true, &[(80, 8080)]),
        ]);
        let r = Resolved::new(Arc::new(snap), &targets);
        let svc = r.services.values().next().unwrap();
        assert_eq!(svc.authority(0, 9001).unwrap().as_str(), "127.0.0.1:9001");
        assert_eq!(svc.authority(0, 9002).unwrap().as_str(), "127.0.0.1:9002");
        assert_eq!(
            svc.authority(1, 8080).unwrap().as_str(),
            "web-b.shop.pod:8080"
        );
        assert!(svc.authority(1, 9001).is_none());
        assert!(svc.authority(2, 8080).is_none());
        let (e, port) = targets.get("web-b.shop.pod:8080").unwrap();
        assert_eq!((e.pod.as_str(), port), ("web-b", 8080));
    }

    #[test]
    fn a_changed_endpoint_replaces_the_registered_one() {
        let targets = Targets::default();
        Resolved::new(
            Arc::new(snapshot(vec![endpoint("old", false, &[(80, 9001)])])),
            &targets,
        );
        Resolved::new(
            Arc::new(snapshot(vec![endpoint("new", false, &[(80, 9001)])])),
            &targets,
        );
        assert_eq!(targets.get("127.0.0.1:9001").unwrap().0.pod, "new");
    }
}
