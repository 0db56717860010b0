//! The reconcile loop: level-triggered, woken by any change and every
//! half second. Assigns Service addresses and node ports, runs the
//! Deployment/ReplicaSet, CronJob and Job controllers, starts and stops pod workers, removes
//! pods whose termination finished, and keeps Service listeners current.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::objects::StoredObject;
use ferry_core::sync::MutexExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::deploy;
use crate::kinds::Kind;
use crate::runtime::Inner;
use crate::services::{self, Listeners};
use crate::store::Key;

struct Worker {
    stop: CancellationToken,
    task: JoinHandle<()>,
    key: Key,
}

/// Runs until the runtime shuts down, then stops every pod.
pub async fn run(inner: Arc<Inner>) {
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut listeners = Listeners::default();
    let mut hpas = crate::hpa::State::default();
    loop {
        tokio::select! {
            _ = inner.kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = inner.shutdown.cancelled() => break,
        }
        if let Err(e) = assign_addresses(&inner) {
            tracing::error!(error = %e, "cannot assign service addresses");
        }
        if let Err(e) = crate::pod_address::assign(&inner) {
            tracing::error!(error = %e, "cannot assign pod addresses");
        }
        crate::accounts::reconcile(&inner);
        let mut ch = deploy::reconcile(&inner);
        crate::cronjob::reconcile(&inner, &mut ch);
        crate::job::reconcile(&inner, &mut ch);
        crate::statefulset::reconcile(&inner, &mut ch);
        crate::volume::reconcile(&inner, &mut ch);
        crate::quota_ctl::reconcile(&inner, &mut ch);
        crate::node::reconcile(&inner, &mut ch);
        crate::daemonset::reconcile(&inner, &mut ch);
        crate::pdb::reconcile(&inner, &mut ch);
        crate::hpa::reconcile(&inner, &mut hpas, &mut ch);
        crate::knative::reconcile(&inner, &mut ch);
        if (!ch.puts.is_empty() || !ch.deletes.is_empty())
            && let Err(e) = inner.commit(ch.puts, ch.deletes)
        {
            tracing::error!(error = %e, "cannot store controller changes");
        }
        crate::node::schedule(&inner);
        pods(&inner, &mut workers);
        services::publish(&inner);
        listeners.reconcile(&inner).await;
    }
    listeners.close();
    for w in workers.values() {
        w.stop.cancel();
    }
    for (_, w) in workers.drain() {
        let _ = w.task.await;
    }
}

fn pods(inner: &Arc<Inner>, workers: &mut HashMap<String, Worker>) {
    let pods = inner.list(Kind::Pod);
    let mut live = BTreeSet::new();
    let mut finished = Vec::new();
    for o in &pods {
        let Some(uid) = o
            .value
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        live.insert(uid.clone());
        let deleting = o.value.pointer("/metadata/deletionTimestamp").is_some();
        let unbound = o.value.pointer("/spec/nodeName").is_none();
        match workers.get(&uid) {
            // Not scheduled yet (a cordoned node): no worker.
            None if unbound && !deleting => {}
            None => {
                // A pod being deleted still gets a worker (stopped at once):
                // it tears down whatever a previous ferry process left.
                let stop = inner.shutdown.child_token();
                if deleting {
                    stop.cancel();
                }
                let ns = o.namespace.clone().unwrap_or_default();
                let task = tokio::spawn(crate::pod::run(
                    inner.clone(),
                    ns,
                    o.name.clone(),
                    uid.clone(),
                    stop.clone(),
                ));
                workers.insert(
                    uid,
                    Worker {
                        stop,
                        task,
                        key: Key::of(o),
                    },
                );
            }
            Some(w) if deleting => {
                w.stop.cancel();
                if w.task.is_finished() {
                    finished.push(w.key.clone());
                    workers.remove(&uid);
                    inner.pods.lock_or_recover().remove(&uid);
                }
            }
            Some(_) => {}
        }
    }
    // Objects removed outright (namespace deletion): stop their workers.
    workers.retain(|uid, w| {
        let keep = live.contains(uid);
        if !keep {
            w.stop.cancel();
        }
        keep || !w.task.is_finished()
    });
    if !finished.is_empty()
        && let Err(e) = inner.commit(vec![], finished)
    {
        tracing::error!(error = %e, "cannot remove terminated pods");
    }
}

/// Gives each Service a cluster address and its node ports.
fn assign_addresses(inner: &Inner) -> crate::Result<()> {
    let svcs = inner.list(Kind::Service);
    let mut used_ips: BTreeSet<Ipv4Addr> = svcs
        .iter()
        .filter_map(|s| s.value.pointer("/spec/clusterIP")?.as_str()?.parse().ok())
        .chain(crate::pod_address::used(inner))
        .collect();
    let mut used_ports: BTreeSet<i64> = svcs
        .iter()
        .flat_map(|s| {
            s.value
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.get("nodePort")?.as_i64())
        .collect();
    let mut puts = Vec::new();
    for s in &svcs {
        let mut v = s.value.clone();
        let mut changed = false;
        if v.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_none_or(|ip| ip.parse::<Ipv4Addr>().is_err())
        {
            if crate::pod_address::headless(&v) {
                v["metadata"]["annotations"][crate::pod_address::HEADLESS] = json!("true");
            }
            let ip = services::allocate_vip(inner.cfg.vip_base, &used_ips);
            used_ips.insert(ip);
            v["spec"]["clusterIP"] = json!(ip.to_string());
            changed = true;
        }
        let ty = v
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty != "ClusterIP"
            && let Some(ports) = v.pointer_mut("/spec/ports").and_then(Value::as_array_mut)
        {
            for p in ports {
                if p.get("nodePort").is_none() {
                    let np = if ty == "LoadBalancer" {
                        p.get("port").and_then(Value::as_i64).unwrap_or(0)
                    } else {
                        (30000..=32767)
                            .find(|n| !used_ports.contains(n))
                            .unwrap_or(30000)
                    };
                    used_ports.insert(np);
                    p["nodePort"] = json!(np);
                    changed = true;
                }
            }
        }
        if changed {
            puts.push(StoredObject {
                value: v,
                ..(**s).clone()
            });
        }
    }
    if puts.is_empty() {
        Ok(())
    } else {
        inner.commit(puts, vec![])
    }
}
