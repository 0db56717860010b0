//! The region's Node object and the scheduling step that writes what
//! `scheduling.rs` decides: the Node (named `RuntimeConfig::node_name`,
//! Kubernetes' well-known labels, Ready, `spec.unschedulable` and its taint
//! once cordoned — persisted, so a cordon survives restarts); pods without
//! `spec.nodeName` are bound to it when they fit, else kept Pending with
//! `PodScheduled=False`, reason `Unschedulable` and a `FailedScheduling`
//! event, and get no worker. Also `cordon`/`uncordon`.

use std::sync::Arc;

use ferry_core::objects::StoredObject;
use k8s_openapi::api::core::v1::{PodSpec, Taint};
use serde_json::{Value, json};

use crate::Runtime;
use crate::deploy::Changes;
use crate::error::{Error, Result};
use crate::kinds::Kind;
use crate::runtime::{Inner, now};
use crate::scheduling::{self, NodeView, UNSCHEDULABLE_TAINT};

/// The node as scheduling sees it (its defaults before the Node is stored).
pub fn view(inner: &Inner) -> NodeView {
    let name = inner.cfg.node_name.clone();
    let Some(o) = inner.get(Kind::Node, "", &name) else {
        return NodeView {
            labels: scheduling::node_labels(&name),
            name,
            ..Default::default()
        };
    };
    let labels = o
        .value
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    let taints: Vec<Taint> = o
        .value
        .pointer("/spec/taints")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default();
    let unschedulable = o.value.pointer("/spec/unschedulable") == Some(&json!(true));
    NodeView {
        name,
        labels,
        unschedulable,
        taints,
    }
}

/// Stores the Node (or brings it up to date) before the controller starts,
/// so a cordon right after start is not lost to the first round.
pub fn ensure(inner: &Inner) -> Result<()> {
    let mut ch = Changes::default();
    reconcile(inner, &mut ch);
    if ch.puts.is_empty() {
        return Ok(());
    }
    inner.commit(ch.puts, vec![])
}

/// Keeps the Node object present with its well-known labels.
pub fn reconcile(inner: &Inner, ch: &mut Changes) {
    let name = &inner.cfg.node_name;
    let old = inner.get(Kind::Node, "", name);
    let mut v = old.as_ref().map(|o| o.value.clone()).unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
            "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now()}, "spec": {}})
    });
    for (k, l) in scheduling::node_labels(name) {
        v["metadata"]["labels"][k] = json!(l);
    }
    v["status"] = status(inner);
    if old.as_ref().map(|o| &o.value) != Some(&v) {
        ch.puts.push(stored(name, v));
    }
}

fn stored(name: &str, value: Value) -> StoredObject {
    StoredObject {
        group_kind: Kind::Node.group_kind(),
        namespace: None,
        name: name.to_string(),
        source: "controller".into(),
        value,
    }
}

/// Ready, its address and what runs it.
fn status(inner: &Inner) -> Value {
    let labels = scheduling::node_labels(&inner.cfg.node_name);
    let arch = labels["kubernetes.io/arch"].clone();
    json!({
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "ferry's runtime is posting ready status"}],
        "addresses": [{"type": "InternalIP", "address": inner.cfg.host_ip.to_string()},
            {"type": "Hostname", "address": inner.cfg.node_name}],
        "nodeInfo": {"architecture": arch, "operatingSystem": "linux",
            "kubeletVersion": concat!("ferry-v", env!("CARGO_PKG_VERSION")),
            "kubeProxyVersion": "", "containerRuntimeVersion": inner.cfg.oci_runtime,
            "bootID": "", "kernelVersion": "", "machineID": "", "osImage": "", "systemUUID": ""},
    })
}

/// Binds pods without a node that fit it; the others stay Pending with the
/// scheduler's reason. Writes at once, so the pod step sees the bindings.
pub fn schedule(inner: &Inner) {
    let node = view(inner);
    let mut puts = Vec::new();
    for o in inner.list(Kind::Pod) {
        let v = &o.value;
        if v.pointer("/spec/nodeName").is_some()
            || v.pointer("/metadata/deletionTimestamp").is_some()
        {
            continue;
        }
        let spec: PodSpec = v
            .get("spec")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default();
        let mut value = v.clone();
        match scheduling::fits(&spec, &node) {
            Ok(()) => {
                value["spec"]["nodeName"] = json!(node.name);
                if let Some(m) = value.as_object_mut() {
                    m.remove("status");
                }
            }
            Err(message) => {
                value["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                    "status": "False", "reason": "Unschedulable", "message": message}]});
                if value == *v {
                    continue;
                }
                let ns = o.namespace.clone().unwrap_or_default();
                inner.event("Pod", &ns, &o.name, true, "FailedScheduling", message);
            }
        }
        puts.push(StoredObject {
            value,
            ..(*o).clone()
        });
    }
    if !puts.is_empty()
        && let Err(e) = inner.commit(puts, vec![])
    {
        tracing::error!(error = %e, "cannot store pod bindings");
    }
}

impl Runtime {
    /// `kubectl cordon` (`on`) or `uncordon`: marks the node (un)schedulable
    /// and answers kubectl's message (`node/uk cordoned`).
    pub fn cordon(&self, name: &str, on: bool) -> Result<String> {
        let inner = &self.inner;
        let o: Arc<StoredObject> =
            inner
                .get(Kind::Node, "", name)
                .ok_or_else(|| Error::NotFound {
                    kind: "Node".into(),
                    namespace: String::new(),
                    name: name.to_string(),
                })?;
        let was = o.value.pointer("/spec/unschedulable") == Some(&json!(true));
        let verb = if on { "cordoned" } else { "uncordoned" };
        if was == on {
            return Ok(format!("node/{name} already {verb}"));
        }
        let mut v = o.value.clone();
        let mut taints: Vec<Value> = v
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        taints.retain(|t| t["key"] != UNSCHEDULABLE_TAINT);
        if on {
            v["spec"]["unschedulable"] = json!(true);
            taints.push(
                json!({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule", "timeAdded": now()}),
            );
        } else if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("unschedulable");
        }
        if taints.is_empty() {
            if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("taints");
            }
        } else {
            v["spec"]["taints"] = json!(taints);
        }
        inner.commit(vec![stored(name, v)], vec![])?;
        let reason = if on {
            "NodeNotSchedulable"
        } else {
            "NodeSchedulable"
        };
        inner.event(
            "Node",
            "",
            name,
            false,
            reason,
            format!("Node {name} status is now: {reason}"),
        );
        Ok(format!("node/{name} {verb}"))
    }
}
