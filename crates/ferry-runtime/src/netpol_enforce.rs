//! NetworkPolicy at the places ferry makes pod connections: the per-pod
//! Service listeners' L4 forwarding (`service_listeners::forward`) and the
//! runtime's [`ferry_core::mesh::Dialer`], which the gateway asks per
//! request for mesh and north-south traffic. Decisions are
//! [`crate::netpol`]'s over a view of the stored policies, namespaces and
//! pods rebuilt whenever the stored objects change, so a changed policy or
//! label holds for the next connection without restarting any pod. A
//! refused connection is logged at debug (source, destination, port, the
//! deciding policies) and counted.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_core::sync::MutexExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::Value;

use crate::kinds::Kind;
use crate::netpol::{Labels, PodView, Source, World};
use crate::runtime::Inner;

/// Who a connection is made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A pod, by namespace and name (labels are looked up when deciding).
    Pod { namespace: String, pod: String },
    /// A client outside the region, by its address.
    External(IpAddr),
}

/// The decision view, cached per version of the stored objects, and the
/// count of refused connections.
#[derive(Debug, Default)]
pub struct Cache {
    view: Mutex<Option<(Version, Arc<View>)>>,
    refused: AtomicU64,
}

impl Cache {
    /// Connections refused by network policy since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Resource version and object count: every commit changes one of them
/// (puts bump the version; a commit of deletes only shrinks the map).
type Version = (u64, usize);

#[derive(Debug, Default)]
struct View {
    world: World,
    pods: HashMap<(String, String), PodFacts>,
}

#[derive(Debug, Default)]
struct PodFacts {
    labels: Labels,
    /// Named container ports.
    named: BTreeMap<String, u16>,
}

/// Whether `caller` may connect to container port `port` of pod
/// `namespace/pod`; a refusal is logged and counted.
pub fn allows(inner: &Inner, caller: &Caller, namespace: &str, pod: &str, port: u16) -> bool {
    let view = view(inner);
    if view.world.policies.is_empty() {
        return true;
    }
    let none = PodFacts::default();
    // Not a pod: the region's API on the host (the `kubernetes` Service).
    let dst_facts = view.pods.get(&(namespace.to_string(), pod.to_string()));
    let dst = dst_facts.map(|f| PodView {
        namespace,
        name: pod,
        labels: &f.labels,
    });
    let named = dst_facts.map_or(&none.named, |f| &f.named);
    let source = match caller {
        Caller::Pod { namespace, pod } => Source::Pod(PodView {
            namespace,
            name: pod,
            labels: view
                .pods
                .get(&(namespace.clone(), pod.clone()))
                .map_or(&none.labels, |f| &f.labels),
        }),
        Caller::External(ip) => Source::External(*ip),
    };
    let d = view.world.decide(source, dst, named, port);
    if !d.allowed {
        inner.netpol.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            source = %source,
            destination = %format!("{namespace}/{pod}"),
            port,
            reason = %d.reason,
            "network policy refused a connection"
        );
    }
    d.allowed
}

/// The current view, rebuilt when the stored objects changed.
fn view(inner: &Inner) -> Arc<View> {
    let version = {
        let objs = inner.objects.lock_or_recover();
        (objs.rv, objs.map.len())
    };
    let mut cached = inner.netpol.view.lock_or_recover();
    if let Some((v, view)) = cached.as_ref()
        && *v == version
    {
        return view.clone();
    }
    let view = Arc::new(build(inner));
    *cached = Some((version, view.clone()));
    view
}

fn build(inner: &Inner) -> View {
    let policies: Vec<_> = inner
        .list(Kind::NetworkPolicy)
        .iter()
        .filter_map(|o| {
            let np: NetworkPolicy = serde_json::from_value(o.value.clone()).ok()?;
            let ns = o.namespace.as_deref().unwrap_or_default();
            crate::netpol_spec::policy(ns, &o.name, &np).ok()
        })
        .collect();
    if policies.is_empty() {
        return View::default();
    }
    let namespaces = inner
        .list(Kind::Namespace)
        .iter()
        .map(|o| (o.name.clone(), labels_of(&o.value)))
        .collect();
    let pods = inner
        .list(Kind::Pod)
        .iter()
        .map(|o| {
            let key = (o.namespace.clone().unwrap_or_default(), o.name.clone());
            let facts = PodFacts {
                labels: labels_of(&o.value),
                named: named_ports(&o.value),
            };
            (key, facts)
        })
        .collect();
    View {
        world: World {
            policies,
            namespaces,
        },
        pods,
    }
}

fn labels_of(v: &Value) -> Labels {
    v.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

fn named_ports(pod: &Value) -> BTreeMap<String, u16> {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    containers
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("ports").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let port = u16::try_from(p.get("containerPort")?.as_u64()?).ok()?;
            Some((name, port))
        })
        .collect()
}
