//! Binds every listener of every region before any component starts, so a
//! port conflict names its region and listener and nothing is half-started.
//! A registry listener on a specific address beyond loopback (served with
//! TLS and accounts) gets a loopback twin on the same port, plain HTTP, for
//! the region's own runtime, delivery and replication source: they stay on
//! the host, and image references inside the region do not change when the
//! exposed address does.

use std::net::SocketAddr;

use ferry_core::topology::Topology;
use tokio::net::TcpListener;

use crate::{Error, RegionEndpoints};

/// The bound sockets of one region.
#[derive(Debug)]
pub(crate) struct RegionSockets {
    pub region: String,
    pub api: TcpListener,
    pub registry: TcpListener,
    /// `127.0.0.1:<registry port>` when `registry` is exposed (see above).
    pub registry_local: Option<TcpListener>,
    pub gateway: TcpListener,
}

impl RegionSockets {
    pub fn endpoints(&self) -> RegionEndpoints {
        let addr = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
        let registry = addr(&self.registry);
        let local_registry = match &self.registry_local {
            Some(l) => addr(l),
            None => crate::reachable(registry),
        };
        RegionEndpoints {
            api: addr(&self.api),
            registry,
            local_registry,
            gateway: addr(&self.gateway),
        }
    }
}

/// Binds all listeners; on the first failure, everything bound so far is
/// closed (dropped) and the error names the region and listener.
pub(crate) fn bind_all(topology: &Topology) -> Result<Vec<RegionSockets>, Error> {
    let mut out = Vec::new();
    for region in &topology.regions {
        let name = region.metadata.name.clone();
        let l = &region.spec.listeners;
        let api = bind(&name, "api", l.api)?;
        let registry = bind(&name, "registry", l.registry)?;
        let registry_local = match registry.local_addr() {
            Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => {
                let twin = SocketAddr::from(([127, 0, 0, 1], a.port()));
                Some(bind(&name, "registry (loopback twin)", twin)?)
            }
            _ => None,
        };
        out.push(RegionSockets {
            api,
            registry,
            registry_local,
            gateway: bind(&name, "gateway", l.gateway)?,
            region: name,
        });
    }
    Ok(out)
}

fn bind(region: &str, listener: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    let err = |source| Error::Bind {
        region: region.to_string(),
        listener,
        addr,
        source,
    };
    let std = std::net::TcpListener::bind(addr).map_err(err)?;
    std.set_nonblocking(true).map_err(err)?;
    TcpListener::from_std(std).map_err(err)
}
