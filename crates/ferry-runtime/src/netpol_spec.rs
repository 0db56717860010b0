//! A NetworkPolicy manifest checked as Kubernetes' API server checks it
//! and turned into the form [`crate::netpol`] decides with: selectors,
//! `policyTypes` (defaulted as Kubernetes does: `Ingress` always, `Egress`
//! when egress rules exist), peers, ports (number or container port name,
//! `endPort`), `ipBlock` CIDRs. Every problem carries its field path and
//! Kubernetes' wording.

use ferry_core::Problem;
use ferry_core::labels::{LabelSelector, Operator, Requirement};
use ferry_core::yaml::Document;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::netpol::{Cidr, Peer, Policy, PortRule, PortSpec, Rule};

/// A problem: field path and message.
pub type Bad = (String, String);

/// Checks a NetworkPolicy document at apply, pushing located problems.
pub fn check(doc: &Document, np: &NetworkPolicy, out: &mut Vec<Problem>) {
    let ns = np.metadata.namespace.as_deref().unwrap_or_default();
    let name = np.metadata.name.as_deref().unwrap_or_default();
    if let Err(bad) = policy(ns, name, np) {
        out.extend(bad.into_iter().map(|(path, msg)| doc.problem(&path, msg)));
    }
}

/// The policy `namespace/name` in decision form, or every problem found.
pub fn policy(namespace: &str, name: &str, np: &NetworkPolicy) -> Result<Policy, Vec<Bad>> {
    let mut bad = Vec::new();
    let Some(spec) = &np.spec else {
        return Err(vec![("spec".into(), "a NetworkPolicy needs a spec".into())]);
    };
    let pod_selector = spec.pod_selector.as_ref();
    let pod_selector = pod_selector.map(|s| selector("spec.podSelector", s, &mut bad));
    let pod_selector = pod_selector.unwrap_or_default();
    let (ingress_on, egress_on) = types(spec, &mut bad);
    let ingress = spec.ingress.iter().flatten().enumerate().map(|(i, r)| {
        let at = format!("spec.ingress[{i}]");
        rule(&at, "from", r.from.as_deref(), r.ports.as_deref(), &mut bad)
    });
    let ingress: Vec<Rule> = ingress.collect();
    let egress = spec.egress.iter().flatten().enumerate().map(|(i, r)| {
        let at = format!("spec.egress[{i}]");
        rule(&at, "to", r.to.as_deref(), r.ports.as_deref(), &mut bad)
    });
    let egress: Vec<Rule> = egress.collect();
    if !bad.is_empty() {
        return Err(bad);
    }
    Ok(Policy {
        namespace: namespace.into(),
        name: name.into(),
        pod_selector,
        ingress: ingress_on.then_some(ingress),
        egress: egress_on.then_some(egress),
    })
}

/// Which directions the policy covers: `policyTypes`, or its default.
fn types(spec: &NetworkPolicySpec, bad: &mut Vec<Bad>) -> (bool, bool) {
    let Some(types) = spec.policy_types.as_ref().filter(|t| !t.is_empty()) else {
        let egress = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
        return (true, egress);
    };
    for (i, t) in types.iter().enumerate() {
        if t != "Ingress" && t != "Egress" {
            bad.push((
                format!("spec.policyTypes[{i}]"),
                format!("Unsupported value: \"{t}\": supported values: \"Egress\", \"Ingress\""),
            ));
        }
    }
    let has = |w: &str| types.iter().any(|t| t == w);
    (has("Ingress"), has("Egress"))
}

fn rule(
    at: &str,
    peers_field: &str,
    peers: Option<&[NetworkPolicyPeer]>,
    ports: Option<&[NetworkPolicyPort]>,
    bad: &mut Vec<Bad>,
) -> Rule {
    let peers = peers.unwrap_or_default().iter().enumerate();
    let peers = peers.filter_map(|(i, p)| peer(&format!("{at}.{peers_field}[{i}]"), p, bad));
    let peers = peers.collect();
    let ports = ports.unwrap_or_default().iter().enumerate();
    let ports = ports.filter_map(|(i, p)| port(&format!("{at}.ports[{i}]"), p, bad));
    Rule {
        peers,
        ports: ports.collect(),
    }
}

fn peer(at: &str, p: &NetworkPolicyPeer, bad: &mut Vec<Bad>) -> Option<Peer> {
    let pods = p.pod_selector.as_ref();
    let namespaces = p.namespace_selector.as_ref();
    match &p.ip_block {
        Some(_) if pods.is_some() || namespaces.is_some() => {
            bad.push((
                at.into(),
                "may not specify both ipBlock and another peer".into(),
            ));
            None
        }
        Some(block) => {
            let cidr_at = format!("{at}.ipBlock.cidr");
            let whole = cidr(&cidr_at, &block.cidr, bad)?;
            let except = block
                .except
                .iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, e)| {
                    let e_at = format!("{at}.ipBlock.except[{i}]");
                    let c = cidr(&e_at, e, bad)?;
                    if !whole.strictly_contains(&c) {
                        bad.push((e_at, "must be a strict subset of `cidr`".into()));
                    }
                    Some(c)
                });
            let except = except.collect();
            Some(Peer::Block {
                cidr: whole,
                except,
            })
        }
        None if pods.is_none() && namespaces.is_none() => {
            bad.push((at.into(), "must specify a peer".into()));
            None
        }
        None => Some(Peer::Pods {
            namespaces: namespaces.map(|s| selector(&format!("{at}.namespaceSelector"), s, bad)),
            pods: pods.map(|s| selector(&format!("{at}.podSelector"), s, bad)),
        }),
    }
}

fn cidr(at: &str, text: &str, bad: &mut Vec<Bad>) -> Option<Cidr> {
    let c = Cidr::parse(text);
    if c.is_none() {
        bad.push((
            at.into(),
            format!(
                "Invalid value: \"{text}\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
            ),
        ));
    }
    c
}

fn port(at: &str, p: &NetworkPolicyPort, bad: &mut Vec<Bad>) -> Option<PortRule> {
    let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
    let before = bad.len();
    if !["TCP", "UDP", "SCTP"].contains(&protocol.as_str()) {
        bad.push((
            format!("{at}.protocol"),
            format!(
                "Unsupported value: \"{protocol}\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
        ));
    }
    let port = match &p.port {
        None => None,
        Some(IntOrString::Int(n)) => match u16::try_from(*n).ok().filter(|n| *n > 0) {
            Some(n) => Some(PortSpec::Number(n)),
            None => {
                let msg = format!("Invalid value: {n}: must be between 1 and 65535, inclusive");
                bad.push((format!("{at}.port"), msg));
                None
            }
        },
        Some(IntOrString::String(s)) if port_name_ok(s) => Some(PortSpec::Name(s.clone())),
        Some(IntOrString::String(s)) => {
            bad.push((
                format!("{at}.port"),
                format!(
                    "Invalid value: \"{s}\": must be a port name: at most 15 characters, lower-case letters, digits and '-', at least one letter"
                ),
            ));
            None
        }
    };
    let end_at = format!("{at}.endPort");
    let end_port = match (p.end_port, &p.port, &port) {
        (None, ..) => None,
        (Some(_), None, _) => {
            let msg = "may not be specified when `port` is not specified";
            bad.push((end_at, msg.into()));
            None
        }
        (Some(_), Some(IntOrString::String(_)), _) => {
            let msg = "may not be specified when `port` is non-numeric";
            bad.push((end_at, msg.into()));
            None
        }
        (Some(e), _, Some(PortSpec::Number(n))) if e < i32::from(*n) || e > 65535 => {
            let msg = format!("Invalid value: {e}: must be greater than or equal to `port`");
            bad.push((end_at, msg));
            None
        }
        (Some(e), ..) => u16::try_from(e).ok(),
    };
    (bad.len() == before).then_some(PortRule {
        protocol,
        port,
        end_port,
    })
}

/// An IANA service name, as container port names are.
fn port_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A `metav1.LabelSelector` as ferry-core's, checking operators and values
/// (also the RBAC aggregation selectors', `crate::validate_rbac`).
pub(crate) fn selector(at: &str, s: &meta::LabelSelector, bad: &mut Vec<Bad>) -> LabelSelector {
    let mut out = LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: Vec::new(),
    };
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let e_at = format!("{at}.matchExpressions[{i}]");
        let values = e.values.clone().unwrap_or_default();
        let operator = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                bad.push((
                    format!("{e_at}.operator"),
                    format!("Unsupported value: \"{other}\": supported values: \"DoesNotExist\", \"Exists\", \"In\", \"NotIn\""),
                ));
                continue;
            }
        };
        let needs_values = matches!(operator, Operator::In | Operator::NotIn);
        if needs_values && values.is_empty() {
            let msg = "must be specified when `operator` is 'In' or 'NotIn'";
            bad.push((format!("{e_at}.values"), msg.into()));
        } else if !needs_values && !values.is_empty() {
            let msg = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'";
            bad.push((format!("{e_at}.values"), msg.into()));
        }
        if e.key.is_empty() {
            bad.push((format!("{e_at}.key"), "a key is required".into()));
        }
        out.match_expressions.push(Requirement {
            key: e.key.clone(),
            operator,
            values,
        });
    }
    out
}
