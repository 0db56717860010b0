//! The listeners behind Service addresses: one per Service port inside each
//! pod's network namespace (and on the host for NodePort and LoadBalancer),
//! reconciled against the published snapshot; each accepted connection goes
//! to the mesh handler (HTTP) or is forwarded round-robin to a ready endpoint
//! (TCP), and [`NetnsDialer`] connects inside that endpoint's namespace.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ferry_core::mesh::{DialFuture, Dialer, Endpoint, Origin, ServiceKey, SourcePod};
use ferry_core::sync::{MutexExt, RwLockExt};
use k8s_openapi::api::core::v1::Pod;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::kinds::Kind;
use crate::netpol_enforce::{self, Caller};
use crate::protocol::{Protocol, protocol_of};
use crate::runtime::Inner;

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
pub(crate) fn container_ports(pod: &serde_json::Value) -> BTreeSet<u16> {
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

pub(crate) async fn serve(
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
pub(crate) async fn forward(
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
