//! Binds every listener of every region before any component starts, so a
//! port conflict names its region and listener and nothing is half-started.

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
    pub gateway: TcpListener,
}

impl RegionSockets {
    pub fn endpoints(&self) -> RegionEndpoints {
        let addr = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
        RegionEndpoints {
            api: addr(&self.api),
            registry: addr(&self.registry),
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
        out.push(RegionSockets {
            api: bind(&name, "api", l.api)?,
            registry: bind(&name, "registry", l.registry)?,
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
