//! Services by name: each Service gets a stable address in 127.0.0.0/8,
//! published with its ready endpoints as a [`ServiceSnapshot`]. Ferry
//! listens on every Service address and port *inside each pod's network
//! namespace* (and on the host for NodePort and LoadBalancer) and hands the
//! connection to the mesh handler, or forwards it round-robin to a ready
//! endpoint, connecting inside that endpoint's namespace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ferry_core::mesh::{
    DialFuture, Dialer, Endpoint, Origin, ServiceEntry, ServiceKey, ServicePort, ServiceSnapshot,
    SourcePod,
};
use ferry_core::sync::{MutexExt, RwLockExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::kinds::Kind;
use crate::netpol_enforce::{self, Caller};
use crate::protocol::{Protocol, protocol_of};
use crate::runtime::Inner;
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

/// Where a listener is and who it is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenKey {
    /// `None`: on the host.
    pub pod: Option<(String, String, PathBuf)>,
    pub service: ServiceKey,
    pub addr: SocketAddr,
    pub port: u16,
    /// How connections are handled: HTTP through the mesh, or plain TCP.
    pub protocol: Protocol,
}

/// The listeners currently held.
#[derive(Debug, Default)]
pub struct Listeners {
    held: HashMap<ListenKey, CancellationToken>,
    rr: Arc<AtomicUsize>,
}

impl Listeners {
    /// Opens listeners that should exist and closes those that should not.
    pub async fn reconcile(&mut self, inner: &Arc<Inner>) {
        let snap = inner.services.borrow().clone();
        let mut want: BTreeSet<String> = BTreeSet::new();
        let mut desired = Vec::new();
        let pods: Vec<((String, String, PathBuf), BTreeSet<u16>)> = inner
            .list(Kind::Pod)
            .iter()
            .filter_map(|o| {
                let uid = o.value.pointer("/metadata/uid")?.as_str()?.to_string();
                let rt = inner.pod_rt(&uid);
                let rt = rt.lock_or_recover();
                if rt.terminating {
                    return None;
                }
                Some((
                    (
                        o.namespace.clone().unwrap_or_default(),
                        o.name.clone(),
                        rt.netns.clone()?,
                    ),
                    container_ports(&o.value),
                ))
            })
            .collect();
        for s in snap.services.values() {
            for p in &s.ports {
                // A pod's own ports win: its server binds the wildcard
                // address, which a Service listener on the same port (on any
                // loopback address) would block. From such a pod, Services
                // on that port are not reachable by name.
                for (pod, _) in pods.iter().filter(|(_, own)| !own.contains(&p.port)) {
                    desired.push(ListenKey {
                        pod: Some(pod.clone()),
                        service: s.key.clone(),
                        addr: SocketAddr::new(s.vip, p.port),
                        port: p.port,
                        protocol: protocol_of(p),
                    });
                }
                if let Some(np) = p.node_port {
                    let host = IpAddr::V4(inner.cfg.host_ip);
                    desired.push(ListenKey {
                        pod: None,
                        service: s.key.clone(),
                        addr: SocketAddr::new(host, np),
                        port: p.port,
                        protocol: Protocol::Tcp,
                    });
                }
            }
        }
        for k in &desired {
            want.insert(format!("{k:?}"));
        }
        self.held.retain(|k, tok| {
            let keep = want.contains(&format!("{k:?}"));
            if !keep {
                tok.cancel();
            }
            keep
        });
        for k in desired {
            if self.held.contains_key(&k) {
                continue;
            }
            let listener = match &k.pod {
                Some((_, _, netns)) => crate::net::listen(netns, k.addr).await,
                None => TcpListener::bind(k.addr).await,
            };
            match listener {
                Ok(l) => {
                    let tok = inner.shutdown.child_token();
                    tokio::spawn(serve(
                        inner.clone(),
                        l,
                        k.clone(),
                        tok.clone(),
                        self.rr.clone(),
                    ));
                    self.held.insert(k, tok);
                }
                Err(e) => {
                    tracing::debug!(addr = %k.addr, service = %k.service, error = %e, "cannot listen (will retry)")
                }
            }
        }
    }

    /// Closes every listener.
    pub fn close(&mut self) {
        for (_, t) in self.held.drain() {
            t.cancel();
        }
    }
}

/// The `containerPort`s a pod's containers declare.
fn container_ports(pod: &serde_json::Value) -> BTreeSet<u16> {
    pod.pointer("/spec/containers")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("ports")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| p.get("containerPort")?.as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

async fn serve(
    inner: Arc<Inner>,
    l: TcpListener,
    k: ListenKey,
    stop: CancellationToken,
    rr: Arc<AtomicUsize>,
) {
    loop {
        let (conn, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            c = l.accept() => match c { Ok(c) => c, Err(_) => continue },
        };
        let caller = match &k.pod {
            Some((namespace, pod, _)) => Caller::Pod {
                namespace: namespace.clone(),
                pod: pod.clone(),
            },
            None => Caller::External(peer.ip()),
        };
        let mesh = inner.mesh.read_or_recover().clone();
        if let (Some(h), Some((ns, pod, _))) = (mesh, &k.pod)
            && k.protocol != Protocol::Tcp
        {
            let labels = inner
                .typed::<Pod>(Kind::Pod, ns, pod)
                .and_then(|p| p.metadata.labels)
                .unwrap_or_default();
            let source = SourcePod {
                namespace: ns.clone(),
                pod: pod.clone(),
                labels,
            };
            if k.protocol == Protocol::Http {
                h.handle(conn, source, k.service.clone(), k.port);
                continue;
            }
            // Unnamed port: HTTP goes to the mesh, anything else (MQTT,
            // databases, server-first protocols) is forwarded as TCP.
            let (inner, k, rr) = (inner.clone(), k.clone(), rr.clone());
            tokio::spawn(async move {
                if crate::protocol::sniff_http(&conn).await {
                    h.handle(conn, source, k.service.clone(), k.port);
                } else {
                    forward(inner, conn, k.service.clone(), k.port, rr, caller).await;
                }
            });
            continue;
        }
        tokio::spawn(forward(
            inner.clone(),
            conn,
            k.service.clone(),
            k.port,
            rr.clone(),
            caller,
        ));
    }
}

/// L4 round-robin forwarding to a ready endpoint; a refused connection
/// tries the next endpoint, as does one network policy refuses (when all
/// are refused, `conn` is closed without forwarding).
async fn forward(
    inner: Arc<Inner>,
    mut conn: TcpStream,
    key: ServiceKey,
    port: u16,
    rr: Arc<AtomicUsize>,
    caller: Caller,
) {
    let ready: Vec<Endpoint> = {
        let snap = inner.services.borrow();
        snap.services
            .get(&key)
            .map(|s| s.endpoints.iter().filter(|e| e.ready).cloned().collect())
            .unwrap_or_default()
    };
    if ready.is_empty() {
        return;
    }
    let start = rr.fetch_add(1, Ordering::Relaxed);
    for i in 0..ready.len() {
        let ep = &ready[(start + i) % ready.len()];
        let Some(target) = ep.target(port) else {
            continue;
        };
        if !netpol_enforce::allows(&inner, &caller, &key.namespace, &ep.pod, target.port()) {
            continue;
        }
        let active = inner
            .typed::<Pod>(Kind::Pod, &key.namespace, &ep.pod)
            .and_then(|p| p.metadata.uid)
            .map(|uid| inner.pod_rt(&uid).lock_or_recover().active.clone());
        if let Some(a) = &active {
            a.fetch_add(1, Ordering::SeqCst);
        }
        let result =
            match crate::net::dial(ep.netns.as_deref(), target, Duration::from_secs(2)).await {
                Ok(mut upstream) => {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                    true
                }
                Err(_) => false,
            };
        if let Some(a) = &active {
            a.fetch_sub(1, Ordering::SeqCst);
        }
        if result {
            return;
        }
    }
}

/// The runtime's [`Dialer`]: connects inside an endpoint's namespace and
/// answers for network policy.
#[derive(Debug, Clone)]
pub struct NetnsDialer(pub Weak<Inner>);

impl Dialer for NetnsDialer {
    fn dial<'a>(&'a self, endpoint: &'a Endpoint, port: u16) -> DialFuture<'a> {
        Box::pin(async move {
            let addr = SocketAddr::new(endpoint.ip, port);
            crate::net::dial(endpoint.netns.as_deref(), addr, Duration::from_secs(5)).await
        })
    }

    fn allows(
        &self,
        origin: Origin<'_>,
        service: &ServiceKey,
        endpoint: &Endpoint,
        port: u16,
    ) -> bool {
        let Some(inner) = self.0.upgrade() else {
            return false;
        };
        let caller = match origin {
            Origin::Pod(p) => Caller::Pod {
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
            },
            Origin::External(ip) => Caller::External(ip),
        };
        netpol_enforce::allows(&inner, &caller, &service.namespace, &endpoint.pod, port)
    }
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
