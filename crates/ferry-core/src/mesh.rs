//! The contract between the runtime, which owns pods and their network
//! namespaces, and the gateway, which routes HTTP to them.
//!
//! The runtime publishes a [`ServiceSnapshot`] (every Service with its
//! virtual address, ports and endpoints, readiness included) on a `watch`
//! channel, and implements [`Dialer`], which opens a TCP connection to an
//! endpoint inside that endpoint's network namespace. The gateway implements
//! [`MeshHandler`]: the runtime hands it every connection a pod makes to a
//! Service address, so routing rules bound to `mesh` apply between pods.
//! With no handler installed the runtime forwards at L4 round-robin.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;

/// `namespace/name` of a Service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    /// The port clients connect to on the Service address.
    pub port: u16,
    /// The host port, for NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    /// `appProtocol`, when the Service declares one (`http`, `h2c`, `grpc`…).
    pub app_protocol: Option<String>,
}

/// A pod backing a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The pod's name.
    pub pod: String,
    /// The pod's labels (DestinationRule subsets select on these).
    pub labels: BTreeMap<String, String>,
    /// True when every container passes its readiness probe.
    pub ready: bool,
    /// The pod's network namespace (`None` means the host's).
    pub netns: Option<PathBuf>,
    /// The address inside that namespace, usually 127.0.0.1.
    pub ip: IpAddr,
    /// Service port → container port, resolved per pod (named targetPorts).
    pub ports: BTreeMap<u16, u16>,
}

impl Endpoint {
    /// The socket address for service port `port`, if this pod serves it.
    pub fn target(&self, port: u16) -> Option<SocketAddr> {
        self.ports.get(&port).map(|p| SocketAddr::new(self.ip, *p))
    }
}

/// A Service with everything routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub key: ServiceKey,
    /// The stable address in 127.0.0.0/8 pods reach the Service on.
    pub vip: IpAddr,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
}

/// Every Service of a region at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSnapshot {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

impl ServiceSnapshot {
    /// Looks a Service up by the host name a client used: `svc`, `svc.ns`,
    /// `svc.ns.svc`, `svc.ns.svc.cluster.local`; bare `svc` resolves in
    /// `default_ns`.
    pub fn resolve(&self, host: &str, default_ns: &str) -> Option<&ServiceEntry> {
        let host = host.split(':').next().unwrap_or(host).trim_end_matches('.');
        let host = host.strip_suffix(".cluster.local").unwrap_or(host);
        let host = host.strip_suffix(".svc").unwrap_or(host);
        let (name, ns) = host.split_once('.').unwrap_or((host, default_ns));
        self.services.get(&ServiceKey {
            namespace: ns.to_string(),
            name: name.to_string(),
        })
    }
}

/// Boxed future returned by [`Dialer::dial`].
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<TcpStream>> + Send + 'a>>;

/// Opens connections to endpoints, entering their network namespace.
pub trait Dialer: Send + Sync + fmt::Debug {
    /// Connects to `endpoint` on container port `port`.
    fn dial<'a>(&'a self, endpoint: &'a Endpoint, port: u16) -> DialFuture<'a>;

    /// Whether network policy lets `origin` reach `endpoint` (a pod of
    /// `service`'s namespace) on container port `port`; asked per request
    /// before an endpoint is picked, since pooled connections are shared.
    /// The default enforces nothing.
    fn allows(
        &self,
        origin: Origin<'_>,
        service: &ServiceKey,
        endpoint: &Endpoint,
        port: u16,
    ) -> bool {
        let _ = (origin, service, endpoint, port);
        true
    }
}

/// Who a connection to an endpoint is made for.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A pod, through the mesh.
    Pod(&'a SourcePod),
    /// A client outside the region (north-south traffic), by its address.
    External(IpAddr),
}

/// Where a mesh connection came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePod {
    pub namespace: String,
    pub pod: String,
    pub labels: BTreeMap<String, String>,
}

/// Handles connections pods make to Service addresses (the gateway's L7
/// router, installed into the runtime).
pub trait MeshHandler: Send + Sync + fmt::Debug {
    /// Takes ownership of `conn`, made by `source` to `service` on `port`.
    fn handle(&self, conn: TcpStream, source: SourcePod, service: ServiceKey, port: u16);
}

/// Shared handle types.
pub type SharedDialer = Arc<dyn Dialer>;
pub type SharedMeshHandler = Arc<dyn MeshHandler>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_accepts_every_kubernetes_spelling() {
        let key = ServiceKey {
            namespace: "prod".into(),
            name: "myhero-app".into(),
        };
        let entry = ServiceEntry {
            key: key.clone(),
            vip: "127.77.0.2".parse().unwrap(),
            ports: vec![],
            endpoints: vec![],
        };
        let snap = ServiceSnapshot {
            services: [(key, entry)].into_iter().collect(),
        };
        for host in [
            "myhero-app",
            "myhero-app.prod",
            "myhero-app.prod.svc",
            "myhero-app.prod.svc.cluster.local",
            "myhero-app:80",
        ] {
            assert!(snap.resolve(host, "prod").is_some(), "{host}");
        }
        assert!(snap.resolve("myhero-app", "default").is_none());
        assert!(snap.resolve("other.prod", "prod").is_none());
    }
}
