//! The DaemonSet controller's decisions for the one node (the region),
//! apart from writing them (`daemonset.rs`): whether the node should run a
//! daemon pod (its template fits the node, a cordon tolerated), which pods
//! to create and delete — a rolling update with maxUnavailable (the old pod
//! goes, then the new one comes) or maxSurge (the new pod first, the old one
//! once the new is ready), or OnDelete — and the status Kubernetes reports.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

/// How old pods are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Old pods go only when someone deletes them.
    OnDelete,
    /// Pods that may be missing, or that may be added, during an update
    /// (already scaled to this one node).
    Rolling {
        max_unavailable: i32,
        max_surge: i32,
    },
}

impl Strategy {
    /// From `spec.updateStrategy` (RollingUpdate, maxUnavailable 1 and
    /// maxSurge 0 by default; percentages of the one node round up).
    pub fn of(v: Option<&Value>) -> Strategy {
        let ty = v.and_then(|s| s.get("type")).and_then(Value::as_str);
        if ty == Some("OnDelete") {
            return Strategy::OnDelete;
        }
        let ru = v.and_then(|s| s.get("rollingUpdate"));
        let scaled = |field: &str, default: i32| {
            let given: Option<IntOrString> = ru
                .and_then(|r| r.get(field))
                .and_then(|x| serde_json::from_value(x.clone()).ok());
            match given {
                None => default,
                Some(IntOrString::Int(n)) => n,
                Some(IntOrString::String(s)) => {
                    let p: i32 = s.trim_end_matches('%').parse().unwrap_or(0);
                    (p + 99) / 100
                }
            }
        };
        let (mut max_unavailable, max_surge) = (scaled("maxUnavailable", 1), scaled("maxSurge", 0));
        if max_unavailable == 0 && max_surge == 0 {
            max_unavailable = 1;
        }
        Strategy::Rolling {
            max_unavailable,
            max_surge,
        }
    }
}

/// One pod the DaemonSet owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsPod {
    pub name: String,
    /// Its `controller-revision-hash` label.
    pub hash: String,
    pub ready: bool,
    pub deleting: bool,
    pub created: String,
}

/// What one DaemonSet needs.
#[derive(Debug, Clone)]
pub struct DsInput {
    /// The node fits the pod template.
    pub should_run: bool,
    /// The current template's hash.
    pub hash: String,
    pub generation: i64,
    pub strategy: Strategy,
    pub pods: Vec<DsPod>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub struct DsPlan {
    pub create: bool,
    pub delete: Vec<String>,
    pub status: Value,
}

/// Decides one DaemonSet on the node.
pub fn plan(input: &DsInput) -> DsPlan {
    let mut live: Vec<&DsPod> = input.pods.iter().filter(|p| !p.deleting).collect();
    live.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    let status = status(input, &live);
    if !input.should_run {
        let delete = live.iter().map(|p| p.name.clone()).collect();
        return DsPlan {
            create: false,
            delete,
            status,
        };
    }
    let (new, old): (Vec<&DsPod>, Vec<&DsPod>) =
        live.iter().copied().partition(|p| p.hash == input.hash);
    let mut delete: Vec<String> = Vec::new();
    let mut create = live.is_empty();
    // Duplicates: the oldest new pod stays (or the oldest old one).
    let extra_new = if new.is_empty() { &[][..] } else { &new[1..] };
    delete.extend(extra_new.iter().map(|p| p.name.clone()));
    let old_kept = if new.is_empty() && !old.is_empty() {
        &old[1..]
    } else {
        &old[..]
    };
    match input.strategy {
        // Old pods stay until deleted (duplicates aside).
        Strategy::OnDelete => delete.extend(old_kept.iter().map(|p| p.name.clone())),
        Strategy::Rolling { max_surge, .. } if max_surge > 0 => {
            // An old pod that is not ready goes at once; a ready one once
            // the new pod is ready.
            let new_ready = new.first().is_some_and(|p| p.ready);
            for p in &old {
                if new_ready || !p.ready {
                    delete.push(p.name.clone());
                }
            }
            create |= new.is_empty() && !old.is_empty();
        }
        Strategy::Rolling { .. } => {
            // One node, at least one pod may be unavailable: old pods go
            // first, the new one is created once none is left.
            delete.extend(old.iter().map(|p| p.name.clone()));
        }
    }
    delete.sort();
    delete.dedup();
    DsPlan {
        create,
        delete,
        status,
    }
}

fn status(input: &DsInput, live: &[&DsPod]) -> Value {
    let on = i32::from(input.should_run);
    let any = |f: &dyn Fn(&DsPod) -> bool| i32::from(live.iter().copied().any(f));
    let scheduled = on * any(&|_| true);
    let ready = on * any(&|p| p.ready);
    let updated = on * any(&|p| p.hash == input.hash);
    json!({
        "desiredNumberScheduled": on,
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": (1 - on) * any(&|_| true),
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": ready,
        "numberUnavailable": on - ready,
        "observedGeneration": input.generation,
    })
}

#[cfg(test)]
#[path = "daemonset_plan_tests.rs"]
mod tests;
