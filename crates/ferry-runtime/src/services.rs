//! Services by name: each Service gets a stable address in 127.0.0.0/8,
//! published with its ready endpoints as a [`ServiceSnapshot`]. Ferry
//! listens on every Service address and port *inside each pod's network
//! namespace* (and on the host for NodePort and LoadBalancer) and hands the
//! connection to the mesh handler, or forwards it round-robin to a ready
//! endpoint, connecting inside that endpoint's namespace (the listeners
//! are `service_listeners.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey, ServicePort, ServiceSnapshot};
use ferry_core::sync::MutexExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::kinds::Kind;
use crate::runtime::Inner;
pub use crate::service_listeners::{Listeners, NetnsDialer};
use crate::validate::selects;

/// Builds the snapshot from the objects and pod states, and publishes it if it changed.
pub fn publish(inner: &Inner) {
    let snap = snapshot(inner);
    inner.services.send_if_modified(|old| {
        if *old == snap {
            false
        } else {
            *old = snap;
            true
        }
    });
}

fn snapshot(inner: &Inner) -> ServiceSnapshot {
    let pods: Vec<(Pod, String)> = inner
        .list(Kind::Pod)
        .iter()
        .filter_map(|o| serde_json::from_value::<Pod>(o.value.clone()).ok())
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let uid = p.metadata.uid.clone()?;
            Some((p, uid))
        })
        .collect();
    let mut out = ServiceSnapshot::default();
    for o in inner.list(Kind::Service) {
        let Ok(svc) = serde_json::from_value::<Service>(o.value.clone()) else {
            continue;
        };
        let spec = svc.spec.clone().unwrap_or_default();
        let Some(vip) = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
        else {
            continue;
        };
        let ns = o.namespace.clone().unwrap_or_default();
        let key = ServiceKey {
            namespace: ns.clone(),
            name: o.name.clone(),
        };
        let ports: Vec<ServicePort> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| ServicePort {
                name: p.name.clone(),
                port: p.port as u16,
                node_port: p.node_port.map(|n| n as u16),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let mut endpoints = Vec::new();
        if let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) {
            for (pod, uid) in &pods {
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                if pod.metadata.namespace.as_deref() != Some(ns.as_str())
                    || !selects(selector, &labels)
                {
                    continue;
                }
                let rt = inner.pod_rt(uid);
                let rt = rt.lock_or_recover();
                let Some(netns) = rt.netns.clone() else {
                    continue;
                };
                let ready = !rt.terminating && pod_ready(&rt.status);
                let containers = pod
                    .spec
                    .as_ref()
                    .map(|s| s.containers.clone())
                    .unwrap_or_default();
                let mut map = BTreeMap::new();
                for p in spec.ports.iter().flatten() {
                    let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
                    let named: BTreeMap<&str, i32> = containers
                        .iter()
                        .flat_map(|c| c.ports.iter().flatten())
                        .filter_map(|cp| Some((cp.name.as_deref()?, cp.container_port)))
                        .collect();
                    if let Some(tp) = crate::validate::resolve_port(&target, &named) {
                        map.insert(p.port as u16, tp);
                    }
                }
                endpoints.push(Endpoint {
                    pod: pod.metadata.name.clone().unwrap_or_default(),
                    labels,
                    ready,
                    netns: Some(netns),
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    ports: map,
                });
            }
        }
        let entry = ServiceEntry {
            key,
            vip,
            ports,
            endpoints,
        };
        for e in crate::pod_address::entries(&o.value, &entry, &pods) {
            out.services.insert(e.key.clone(), e);
        }
        out.services.insert(entry.key.clone(), entry);
    }
    if let Some(api) = &inner.cfg.api {
        let entry = crate::api_service::kubernetes_service(inner.cfg.vip_base, api.addr);
        out.services.entry(entry.key.clone()).or_insert(entry);
    }
    out
}

/// True when every app container is ready.
pub fn pod_ready(s: &k8s_openapi::api::core::v1::PodStatus) -> bool {
    let cs = s.container_statuses.as_deref().unwrap_or_default();
    !cs.is_empty()
        && cs
            .iter()
            .all(|c| c.ready && c.state.as_ref().is_some_and(|st| st.running.is_some()))
}

/// Picks the next free address from `base` not in `used`.
pub fn allocate_vip(base: Ipv4Addr, used: &BTreeSet<Ipv4Addr>) -> Ipv4Addr {
    let mut n = u32::from(base);
    while used.contains(&Ipv4Addr::from(n)) {
        n += 1;
    }
    Ipv4Addr::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vips_skip_used_addresses() {
        let base = Ipv4Addr::new(127, 77, 0, 10);
        let used = [base, Ipv4Addr::new(127, 77, 0, 11)].into_iter().collect();
        assert_eq!(allocate_vip(base, &used), Ipv4Addr::new(127, 77, 0, 12));
    }
}
