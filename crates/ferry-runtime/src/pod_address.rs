//! Stable names of pods behind a headless Service, as Kubernetes' DNS
//! gives them: a pod with `spec.hostname` and `spec.subdomain` naming a
//! headless Service (`clusterIP: None`) of its namespace that selects it
//! is `<hostname>.<subdomain>.<ns>.svc.cluster.local` (and the shorter
//! forms) from every pod. Pods have no addresses of their own here (each
//! netns has loopback only), so each such pod is given one in the Service
//! range, kept in its `ferry.dev/address` annotation, and published as a
//! Service of that one endpoint with the headless Service's ports: every
//! pod's hosts file names it and ferry listens on it inside every pod, as
//! for any Service. The headless Service itself keeps a Service address
//! (balancing over its ready pods); its annotation `ferry.dev/headless`
//! remembers it was asked to have none.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ferry_core::mesh::{ServiceEntry, ServiceKey};
use ferry_core::objects::StoredObject;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::kinds::Kind;
use crate::runtime::Inner;

/// The pod annotation holding its address.
pub const ADDRESS: &str = "ferry.dev/address";
/// The Service annotation marking a Service applied with `clusterIP: None`.
pub const HEADLESS: &str = "ferry.dev/headless";

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// The addresses pods hold.
pub fn used(inner: &Inner) -> impl Iterator<Item = Ipv4Addr> {
    let pods = inner.list(Kind::Pod);
    pods.into_iter()
        .filter_map(|p| annotation(&p.value, ADDRESS)?.parse().ok())
}

/// True for a Service applied with `clusterIP: None`.
pub fn headless(svc: &Value) -> bool {
    annotation(svc, HEADLESS) == Some("true")
        || svc.pointer("/spec/clusterIP") == Some(&json!("None"))
}

/// Whether pod `p` wants a name under a headless Service of its namespace.
fn wants_address(p: &Value, headless_names: &BTreeSet<(String, String)>) -> bool {
    let ns = p.pointer("/metadata/namespace").and_then(Value::as_str);
    let sub = p.pointer("/spec/subdomain").and_then(Value::as_str);
    p.pointer("/spec/hostname").is_some()
        && p.pointer("/metadata/deletionTimestamp").is_none()
        && annotation(p, ADDRESS).is_none()
        && ns
            .zip(sub)
            .is_some_and(|(ns, s)| headless_names.contains(&(ns.to_string(), s.to_string())))
}

/// Gives each pod that wants a stable name an address of its own.
pub fn assign(inner: &Inner) -> crate::Result<()> {
    let svcs = inner.list(Kind::Service);
    let names: BTreeSet<(String, String)> = svcs
        .iter()
        .filter(|s| headless(&s.value))
        .map(|s| (s.namespace.clone().unwrap_or_default(), s.name.clone()))
        .collect();
    let mut taken: BTreeSet<Ipv4Addr> = svcs
        .iter()
        .filter_map(|s| s.value.pointer("/spec/clusterIP")?.as_str()?.parse().ok())
        .chain(used(inner))
        .collect();
    let mut puts = Vec::new();
    for p in inner.list(Kind::Pod) {
        if !wants_address(&p.value, &names) {
            continue;
        }
        let ip = crate::services::allocate_vip(inner.cfg.vip_base, &taken);
        taken.insert(ip);
        let mut value = p.value.clone();
        value["metadata"]["annotations"][ADDRESS] = json!(ip.to_string());
        puts.push(StoredObject {
            value,
            ..(*p).clone()
        });
    }
    if puts.is_empty() {
        return Ok(());
    }
    inner.commit(puts, vec![])
}

/// The Services of one pod each that a headless Service's `entry` stands
/// for: `<hostname>.<service>` for each selected pod whose subdomain it is.
pub fn entries(svc: &Value, entry: &ServiceEntry, pods: &[(Pod, String)]) -> Vec<ServiceEntry> {
    if !headless(svc) {
        return vec![];
    }
    let name = &entry.key.name;
    entry
        .endpoints
        .iter()
        .filter_map(|ep| {
            let (pod, _) = pods.iter().find(|(p, _)| {
                p.metadata.name.as_deref() == Some(&ep.pod)
                    && p.metadata.namespace.as_deref() == Some(&entry.key.namespace)
            })?;
            let spec = pod.spec.as_ref()?;
            let host = spec.hostname.as_deref()?;
            (spec.subdomain.as_deref() == Some(name.as_str())).then_some(())?;
            let ip: IpAddr = pod
                .metadata
                .annotations
                .as_ref()?
                .get(ADDRESS)?
                .parse()
                .ok()?;
            Some(ServiceEntry {
                key: ServiceKey {
                    namespace: entry.key.namespace.clone(),
                    name: format!("{host}.{name}"),
                },
                vip: ip,
                ports: entry.ports.clone(),
                endpoints: vec![ep.clone()],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pods_under_a_headless_service_want_an_address() {
        let names: BTreeSet<(String, String)> =
            [("default".to_string(), "nginx".to_string())].into();
        let pod = |sub: &str| {
            json!({"metadata": {"name": "web-0", "namespace": "default"},
                   "spec": {"hostname": "web-0", "subdomain": sub}})
        };
        assert!(wants_address(&pod("nginx"), &names));
        assert!(!wants_address(&pod("other"), &names));
        let mut has = pod("nginx");
        has["metadata"]["annotations"][ADDRESS] = json!("127.77.0.12");
        assert!(!wants_address(&has, &names));
        assert!(headless(&json!({"spec": {"clusterIP": "None"}})));
        assert!(headless(
            &json!({"metadata": {"annotations": {HEADLESS: "true"}}, "spec": {"clusterIP": "127.77.0.11"}})
        ));
        assert!(!headless(&json!({"spec": {"clusterIP": "127.77.0.11"}})));
    }
}
