//! The gateway without a region, from manifest files (`ferry gateway
//! serve`): routing objects (Ingress, Gateway API, Istio) and the Services
//! they route to, given as Istio `ServiceEntry`s whose endpoints are host
//! addresses. [`load`] checks everything before a port opens and returns the
//! objects for [`Gateway::apply`](crate::Gateway::apply) and a fixed
//! [`ServiceSnapshot`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ferry_core::error::{Problem, Problems};
use ferry_core::mesh::{Endpoint, ServiceEntry, ServicePort, ServiceSnapshot};
use ferry_core::objects::{GroupKind, StoredObject};

use crate::config::service_entry::ServiceEntrySpec;
use crate::config::{Ctx, ISTIO, service_key};

/// What a set of manifest files declares.
#[derive(Debug, Default)]
pub struct Manifests {
    /// Routing objects, in file order.
    pub objects: Vec<Arc<StoredObject>>,
    /// Every ServiceEntry host as a Service, endpoints always ready.
    pub services: ServiceSnapshot,
}

/// Reads `(file name, text)` sources. Every problem of every file is
/// reported at once, each naming file, document, object and field.
pub fn load(sources: &[(String, String)]) -> Result<Manifests, Problems> {
    let mut out = Manifests::default();
    let mut problems = Problems::default();
    let routing = crate::config::kinds();
    let service_entry = GroupKind::new(ISTIO, "ServiceEntry");
    for (file, text) in sources {
        let docs = match ferry_core::yaml::parse_documents(file, text) {
            Ok(d) => d,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        for doc in docs {
            let v = doc.value;
            let str_at = |p: &str| v.pointer(p).and_then(|s| s.as_str()).unwrap_or("");
            let gk = GroupKind::of(str_at("/apiVersion"), str_at("/kind"));
            let name = str_at("/metadata/name").to_string();
            let namespace = Some(str_at("/metadata/namespace"))
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
                .to_string();
            if name.is_empty() {
                problems.push(Problem::at(
                    file,
                    doc.index,
                    "metadata.name",
                    "missing name",
                ));
                continue;
            }
            if gk != service_entry && !routing.contains(&gk) {
                problems.push(Problem::at(file, doc.index, "kind",
                    format!("{gk} is not served by `ferry gateway serve`: it reads Ingress, Gateway, HTTPRoute, VirtualService, DestinationRule and ServiceEntry (the Services, with their endpoints' addresses)")));
                continue;
            }
            let obj = Arc::new(StoredObject {
                group_kind: gk.clone(),
                namespace: Some(namespace),
                name,
                source: format!("{file}: document {}", doc.index),
                value: v,
            });
            if gk == service_entry {
                if let Err(p) = add_services(&obj, &mut out.services) {
                    problems.push(p);
                }
            } else {
                out.objects.push(obj);
            }
        }
    }
    if let Err(p) = crate::compile::compile(&out.objects) {
        problems.0.extend(p.0);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Adds one Service per host of a ServiceEntry.
fn add_services(obj: &StoredObject, snap: &mut ServiceSnapshot) -> Result<(), Problem> {
    let ctx = Ctx::new(obj);
    let spec: ServiceEntrySpec = ctx.spec()?;
    if let Some(r) = spec.resolution.as_deref().filter(|r| *r != "STATIC") {
        return Err(ctx.problem("spec.resolution",
            format!("resolution {r} is not served: list the endpoints by IP address with resolution STATIC")));
    }
    if spec.hosts.is_empty() || spec.ports.is_empty() || spec.endpoints.is_empty() {
        return Err(ctx.problem(
            "spec",
            "hosts, ports and endpoints must each name at least one",
        ));
    }
    let ports: Vec<ServicePort> = spec
        .ports
        .iter()
        .map(|p| ServicePort {
            name: Some(p.name.clone()),
            port: p.number,
            node_port: None,
            app_protocol: p.protocol.as_ref().map(|s| s.to_ascii_lowercase()),
        })
        .collect();
    let mut endpoints = Vec::new();
    for (i, e) in spec.endpoints.iter().enumerate() {
        let ip: IpAddr = e.address.parse().map_err(|_| {
            ctx.problem(
                format!("spec.endpoints[{i}].address"),
                format!("{:?} is not an IP address", e.address),
            )
        })?;
        if let Some(unknown) = e
            .ports
            .keys()
            .find(|n| !spec.ports.iter().any(|p| &p.name == *n))
        {
            return Err(ctx.problem(
                format!("spec.endpoints[{i}].ports.{unknown}"),
                "no port of spec.ports has this name",
            ));
        }
        let ports = spec
            .ports
            .iter()
            .map(|p| {
                let target = e
                    .ports
                    .get(&p.name)
                    .copied()
                    .or(p.target_port)
                    .unwrap_or(p.number);
                (p.number, target)
            })
            .collect::<BTreeMap<_, _>>();
        endpoints.push(Endpoint {
            pod: format!("{}-{i}", obj.name),
            labels: e.labels.clone(),
            ready: true,
            netns: None,
            ip,
            ports,
        });
    }
    for (h, host) in spec.hosts.iter().enumerate() {
        let key = service_key(host, &ctx.namespace);
        if snap.services.contains_key(&key) {
            return Err(ctx.problem(
                format!("spec.hosts[{h}]"),
                format!("Service {key} is declared twice"),
            ));
        }
        snap.services.insert(
            key.clone(),
            ServiceEntry {
                key,
                vip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                ports: ports.clone(),
                endpoints: endpoints.clone(),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
