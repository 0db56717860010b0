//! NetworkPolicy (networking.k8s.io/v1) decided as Kubernetes defines it,
//! without IO: given the policies, the namespaces' labels, where a
//! connection comes from and the pod and container port it goes to, is it
//! allowed, and which policy (or the absence of one) decided it.
//!
//! A pod selected by no policy of a direction is open in that direction;
//! once selected, only what some selecting policy allows passes (the
//! union of the policies). A connection needs the source's egress and the
//! destination's ingress. Pods here have no addresses of their own (their
//! network namespaces have loopback only), so an `ipBlock` peer matches
//! only clients outside the region whose traffic enters through the
//! gateway, by their client address; it never matches a pod.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ferry_core::labels::LabelSelector;

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// The label Kubernetes sets on every namespace to its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One NetworkPolicy, in the form decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    /// The pods of `namespace` it applies to (empty: all of them).
    pub pod_selector: LabelSelector,
    /// `Some` when `policyTypes` holds `Ingress`: the allow rules.
    pub ingress: Option<Vec<Rule>>,
    /// `Some` when `policyTypes` holds `Egress`.
    pub egress: Option<Vec<Rule>>,
}

/// One `ingress[]` or `egress[]` entry: traffic from (to) any of `peers`
/// on any of `ports`; an empty list means all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PortRule>,
}

/// One `from[]` / `to[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Pods: `namespaces` `None` is the policy's own namespace, `pods`
    /// `None` every pod of the selected namespaces; both set is an AND.
    Pods {
        namespaces: Option<LabelSelector>,
        pods: Option<LabelSelector>,
    },
    /// Clients outside the region by address.
    Block { cidr: Cidr, except: Vec<Cidr> },
}

/// One `ports[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// `TCP` (the default), `UDP` or `SCTP`; ferry carries TCP only.
    pub protocol: String,
    pub port: Option<PortSpec>,
    pub end_port: Option<u16>,
}

/// A port by number or by the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Number(u16),
    Name(String),
}

/// An address prefix (`10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max && !p.starts_with('+')).then_some(Cidr { addr, prefix })
    }

    /// True when `ip` lies inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            (IpAddr::V4(a), IpAddr::V6(b)) => match b.to_ipv4_mapped() {
                Some(b) => (u32::from(a) as u128, u32::from(b) as u128, 32),
                None => return false,
            },
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }

    /// True when `other` lies strictly inside this prefix.
    pub fn strictly_contains(&self, other: &Cidr) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && other.prefix > self.prefix
            && self.contains(other.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A pod as a party to a connection.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub labels: &'a Labels,
}

/// Where a connection comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Pod(PodView<'a>),
    /// A client outside the region, through the gateway.
    External(IpAddr),
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pod(p) => write!(f, "pod {}/{}", p.namespace, p.name),
            Source::External(ip) => write!(f, "external client {ip}"),
        }
    }
}

/// Allowed or not, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Every policy and namespace of the region at one moment.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub policies: Vec<Policy>,
    /// Namespace name → its stored labels.
    pub namespaces: BTreeMap<String, Labels>,
}

impl World {
    /// A namespace's labels, with `kubernetes.io/metadata.name` set to its
    /// name as Kubernetes sets it on every namespace.
    pub fn namespace_labels(&self, ns: &str) -> Labels {
        let mut l = self.namespaces.get(ns).cloned().unwrap_or_default();
        l.insert(NAMESPACE_NAME_LABEL.into(), ns.into());
        l
    }

    /// Decides a connection from `from` to container port `port` of `to`,
    /// whose named container ports are `named`. `to` is `None` for a
    /// destination that is no pod (the region's API on the host): no
    /// ingress policy covers it, and only egress rules open to every
    /// destination reach it.
    pub fn decide(
        &self,
        from: Source<'_>,
        to: Option<PodView<'_>>,
        named: &BTreeMap<String, u16>,
        port: u16,
    ) -> Decision {
        let dest = match to {
            Some(t) => format!("pod {}/{}", t.namespace, t.name),
            None => "a host address".to_string(),
        };
        let egress = match from {
            Source::Pod(src) => self.direction(Dir::Egress, src, |r| {
                r.ports_match(port, named)
                    && (r.peers.is_empty()
                        || to.is_some_and(|to| {
                            r.peers.iter().any(|p| self.peer_has_pod(p, src, to))
                        }))
            }),
            Source::External(_) => Verdict::Open,
        };
        if let Verdict::Denied(selecting) = &egress {
            return Decision {
                allowed: false,
                reason: format!(
                    "egress of {from} is limited by {}, none allows {dest} port {port}",
                    list(selecting),
                ),
            };
        }
        let Some(to) = to else {
            return Decision {
                allowed: true,
                reason: format!("egress {egress}, no ingress policy covers {dest}"),
            };
        };
        let ingress = self.direction(Dir::Ingress, to, |r| {
            r.ports_match(port, named)
                && (r.peers.is_empty()
                    || r.peers.iter().any(|p| match from {
                        Source::Pod(src) => self.peer_has_pod(p, to, src),
                        Source::External(ip) => peer_has_ip(p, ip),
                    }))
        });
        match ingress {
            Verdict::Denied(selecting) => Decision {
                allowed: false,
                reason: format!(
                    "ingress of {dest} is limited by {}, none allows {from} to port {port}",
                    list(&selecting)
                ),
            },
            ingress => Decision {
                allowed: true,
                reason: format!("egress {egress}, ingress {ingress}"),
            },
        }
    }

    /// The verdict of the policies of `pod`'s namespace selecting it for
    /// `dir`: open when none does, else allowed by the first whose rules
    /// `allow`.
    fn direction(&self, dir: Dir, pod: PodView<'_>, allow: impl Fn(&Rule) -> bool) -> Verdict {
        let mut selecting = Vec::new();
        for p in &self.policies {
            if p.namespace != pod.namespace || !p.pod_selector.matches(pod.labels) {
                continue;
            }
            let Some(rules) = (match dir {
                Dir::Ingress => &p.ingress,
                Dir::Egress => &p.egress,
            }) else {
                continue;
            };
            if rules.iter().any(&allow) {
                return Verdict::Allowed(format!("{}/{}", p.namespace, p.name));
            }
            selecting.push(format!("{}/{}", p.namespace, p.name));
        }
        if selecting.is_empty() {
            Verdict::Open
        } else {
            Verdict::Denied(selecting)
        }
    }

    /// Whether peer `p` of a policy of `owner`'s namespace names `pod`.
    fn peer_has_pod(&self, p: &Peer, owner: PodView<'_>, pod: PodView<'_>) -> bool {
        match p {
            Peer::Block { .. } => false,
            Peer::Pods { namespaces, pods } => {
                let ns_ok = match namespaces {
                    None => pod.namespace == owner.namespace,
                    Some(sel) => sel.matches(&self.namespace_labels(pod.namespace)),
                };
                ns_ok && pods.as_ref().is_none_or(|s| s.matches(pod.labels))
            }
        }
    }
}

fn peer_has_ip(p: &Peer, ip: IpAddr) -> bool {
    match p {
        Peer::Pods { .. } => false,
        Peer::Block { cidr, except } => cidr.contains(ip) && !except.iter().any(|e| e.contains(ip)),
    }
}

impl Rule {
    /// Whether TCP to container port `port` is among this rule's ports.
    fn ports_match(&self, port: u16, named: &BTreeMap<String, u16>) -> bool {
        self.ports.is_empty()
            || self.ports.iter().any(|r| {
                r.protocol == "TCP"
                    && match &r.port {
                        None => true,
                        Some(PortSpec::Number(n)) => {
                            (*n..=r.end_port.unwrap_or(*n)).contains(&port)
                        }
                        Some(PortSpec::Name(name)) => named.get(name) == Some(&port),
                    }
            })
    }
}

#[derive(Debug, Clone, Copy)]
enum Dir {
    Ingress,
    Egress,
}

/// One direction's outcome.
#[derive(Debug)]
enum Verdict {
    /// No policy selects the pod for this direction.
    Open,
    /// Allowed by this policy.
    Allowed(String),
    /// Selected by these policies, none allows.
    Denied(Vec<String>),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Open => write!(f, "open (no policy selects the pod)"),
            Verdict::Allowed(p) => write!(f, "allowed by {p}"),
            Verdict::Denied(ps) => write!(f, "denied ({})", list(ps)),
        }
    }
}

fn list(policies: &[String]) -> String {
    format!("policy {}", policies.join(", "))
}

#[cfg(test)]
#[path = "netpol_tests.rs"]
mod tests;
