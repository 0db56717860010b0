//! Semantic checks of a Service that serde cannot make: its type, its ports
//! (numbers, names, nodePorts) and target ports, each problem named by
//! field path.

use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::validate::Found;

/// A Service: type, ports, target ports.
pub fn service(doc: &Document, s: &Service, out: &mut Found) {
    let Some(spec) = &s.spec else {
        out.push(doc.problem("spec", "a Service needs a spec"));
        return;
    };
    match spec.type_.as_deref() {
        None | Some("ClusterIP") | Some("NodePort") | Some("LoadBalancer") => {}
        Some(t) => out.push(doc.problem(
            "spec.type",
            format!("unsupported Service type `{t}`; use ClusterIP, NodePort or LoadBalancer"),
        )),
    }
    if let Some(ip) = spec.cluster_ip.as_deref()
        && ip != "None"
        && !ip
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
    {
        out.push(doc.problem(
            "spec.clusterIP",
            format!("`{ip}` is not in 127.0.0.0/8; leave it out and ferry assigns one"),
        ));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() {
        out.push(doc.problem("spec.ports", "a Service needs at least one port"));
    }
    for (i, p) in ports.iter().enumerate() {
        if !(1..=65535).contains(&p.port) {
            out.push(doc.problem(
                &format!("spec.ports[{i}].port"),
                format!("{} is not a port (1-65535)", p.port),
            ));
        }
        if let Some(t) = &p.target_port
            && let IntOrString::Int(n) = t
            && !(1..=65535).contains(n)
        {
            out.push(doc.problem(
                &format!("spec.ports[{i}].targetPort"),
                format!("{n} is not a port (1-65535)"),
            ));
        }
        if let Some(n) = p.node_port
            && !(1..=65535).contains(&n)
        {
            out.push(doc.problem(
                &format!("spec.ports[{i}].nodePort"),
                format!("{n} is not a port (1-65535)"),
            ));
        }
        if p.protocol.as_deref().is_some_and(|p| p != "TCP") {
            out.push(doc.problem(
                &format!("spec.ports[{i}].protocol"),
                "only TCP is supported",
            ));
        }
        if ports.len() > 1 && p.name.is_none() {
            out.push(doc.problem(
                &format!("spec.ports[{i}].name"),
                "every port of a multi-port Service needs a name",
            ));
        }
    }
}
