//! ResourceQuota decisions, pure, as Kubernetes' `ResourceQuota` admission
//! plugin and quota controller make them: the usage one object charges
//! (`pods`, `requests.cpu`, `services.nodeports`, `count/deployments.apps`…),
//! whether a quota's scopes select a pod, the "must specify" constraint on
//! pods of quotas tracking cpu or memory, and the check of a request
//! against a quota's hard limits with the plugin's error texts.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::quantity::{Quantity, ResourceList, add, list_of, pretty};

/// One scope requirement (`spec.scopes` entries are `Exists`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeReq {
    pub scope: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// A ResourceQuota's name, hard limits and scopes.
#[derive(Debug, Clone)]
pub struct Quota {
    pub name: String,
    pub hard: ResourceList,
    pub scopes: Vec<ScopeReq>,
}

/// The scopes a quota may name.
pub const SCOPES: [&str; 6] = [
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

/// Resources whose quota obliges every container to state them.
const VALIDATION: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

impl Quota {
    /// Reads a ResourceQuota object.
    pub fn of(rq: &Value) -> Self {
        let mut scopes: Vec<ScopeReq> = rq
            .pointer("/spec/scopes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|s| ScopeReq {
                scope: s.to_string(),
                operator: "Exists".into(),
                values: vec![],
            })
            .collect();
        let exprs = rq.pointer("/spec/scopeSelector/matchExpressions");
        for e in exprs.and_then(Value::as_array).into_iter().flatten() {
            scopes.push(ScopeReq {
                scope: e["scopeName"].as_str().unwrap_or_default().into(),
                operator: e["operator"].as_str().unwrap_or_default().into(),
                values: serde_json::from_value(e["values"].clone()).unwrap_or_default(),
            });
        }
        Self {
            name: rq["metadata"]["name"].as_str().unwrap_or_default().into(),
            hard: list_of(rq.pointer("/spec/hard")),
            scopes,
        }
    }

    /// Whether the quota covers an object of `kind` (scoped quotas cover pods only).
    pub fn matches(&self, kind: &str, obj: &Value) -> bool {
        if self.scopes.is_empty() {
            return true;
        }
        kind == "Pod" && self.scopes.iter().all(|s| scope_matches(s, &obj["spec"]))
    }
}

fn scope_matches(s: &ScopeReq, spec: &Value) -> bool {
    let terminating = spec["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|d| d >= 0);
    match s.scope.as_str() {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort(spec),
        "NotBestEffort" => !best_effort(spec),
        "PriorityClass" => {
            let class = spec["priorityClassName"].as_str().unwrap_or_default();
            let listed = s.values.iter().any(|v| v == class);
            match s.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                _ => false,
            }
        }
        _ => false,
    }
}

/// A pod of QoS class BestEffort: no container states cpu or memory.
fn best_effort(spec: &Value) -> bool {
    !containers(spec).any(|c| {
        ["requests", "limits"].iter().any(|f| {
            let set = &c["resources"][*f];
            set.get("cpu").is_some() || set.get("memory").is_some()
        })
    })
}

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    let main = spec["containers"].as_array().into_iter().flatten();
    main.chain(spec["initContainers"].as_array().into_iter().flatten())
}

/// The usage an object of `kind` (plural `plural`, API group `group`)
/// charges; `terminal`: a pod that finished (it counts for `count/pods` only).
pub fn usage(group: &str, kind: &str, plural: &str, obj: &Value, terminal: bool) -> ResourceList {
    let one = Quantity::count(1);
    let count = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    let mut out = ResourceList::from([(count, one)]);
    let legacy = [
        "services",
        "configmaps",
        "secrets",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "resourcequotas",
    ];
    if group.is_empty() && legacy.contains(&plural) {
        out.insert(plural.to_string(), one);
    }
    match (group, kind) {
        ("", "Pod") if !terminal => out.extend(pod_usage(&obj["spec"])),
        ("", "Service") => {
            let ty = obj["spec"]["type"].as_str().unwrap_or("ClusterIP");
            let ports = obj["spec"]["ports"].as_array().map_or(0, Vec::len) as i64;
            let lb_ports = obj["spec"]["allocateLoadBalancerNodePorts"] != Value::Bool(false);
            let node_ports = match ty {
                "NodePort" => ports,
                "LoadBalancer" if lb_ports => ports,
                _ => 0,
            };
            out.insert("services.nodeports".into(), Quantity::count(node_ports));
            let lb = i64::from(ty == "LoadBalancer");
            out.insert("services.loadbalancers".into(), Quantity::count(lb));
        }
        ("", "PersistentVolumeClaim") => {
            let storage = list_of(obj.pointer("/spec/resources/requests"))
                .get("storage")
                .copied();
            if let Some(s) = storage {
                out.insert("requests.storage".into(), s);
            }
            if let Some(class) = obj["spec"]["storageClassName"].as_str() {
                let prefix = format!("{class}.storageclass.storage.k8s.io/");
                out.insert(format!("{prefix}persistentvolumeclaims"), one);
                if let Some(s) = storage {
                    out.insert(format!("{prefix}requests.storage"), s);
                }
            }
        }
        _ => {}
    }
    out
}

/// `pods` and the compute resources of a running pod.
fn pod_usage(spec: &Value) -> ResourceList {
    let (requests, limits) = crate::limit_range::pod_totals(spec);
    let mut out = ResourceList::from([("pods".to_string(), Quantity::count(1))]);
    for (k, v) in &requests {
        if matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            out.insert(k.clone(), *v);
        }
        out.insert(format!("requests.{k}"), *v);
    }
    for (k, v) in &limits {
        out.insert(format!("limits.{k}"), *v);
    }
    out
}

/// `new - old`, negative parts and zeros dropped (an update charges its growth).
pub fn delta(new: &ResourceList, old: Option<&ResourceList>) -> ResourceList {
    new.iter()
        .filter_map(|(k, v)| {
            let d = old.and_then(|o| o.get(k)).map_or(*v, |o| v.sub(*o));
            (d.nanos() > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// A pod's containers must state what the quota tracks of cpu and memory:
/// `Err("failed quota: NAME: must specify limits.cpu for: main")`.
pub fn constraints(q: &Quota, spec: &Value) -> Result<(), String> {
    let required: BTreeSet<&str> = q
        .hard
        .keys()
        .map(String::as_str)
        .filter(|k| VALIDATION.contains(k))
        .collect();
    let mut missing: std::collections::BTreeMap<&str, BTreeSet<String>> = Default::default();
    for c in containers(spec) {
        let has = |field: &str, r: &str| c["resources"][field].get(r).is_some();
        for r in &required {
            let stated = match *r {
                "cpu" | "memory" => has("requests", r),
                other => {
                    let (field, res) = other.split_once('.').unwrap_or(("", other));
                    has(field, res)
                }
            };
            if !stated {
                let name = c["name"].as_str().unwrap_or_default().to_string();
                missing.entry(*r).or_default().insert(name);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!(
        "failed quota: {}: must specify {}",
        q.name,
        parts.join("; ")
    ))
}

/// Whether `requested` fits in the quota on top of `used`:
/// `Err("exceeded quota: NAME, requested: …, used: …, limited: …")`.
pub fn check(q: &Quota, used: &ResourceList, requested: &ResourceList) -> Result<(), String> {
    let requested: ResourceList = requested
        .iter()
        .filter(|(k, _)| q.hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let zero = Quantity::count(0);
    let new = add(used, &requested);
    let exceeded: Vec<&String> = requested
        .keys()
        .filter(|k| new.get(*k).copied().unwrap_or(zero) > q.hard[*k])
        .collect();
    if exceeded.is_empty() {
        return Ok(());
    }
    let mask = |l: &ResourceList| -> ResourceList {
        exceeded
            .iter()
            .map(|k| ((*k).clone(), l.get(*k).copied().unwrap_or(zero)))
            .collect()
    };
    Err(format!(
        "exceeded quota: {}, requested: {}, used: {}, limited: {}",
        q.name,
        pretty(&mask(&requested)),
        pretty(&mask(used)),
        pretty(&mask(&q.hard))
    ))
}

/// The API server's prefix of an admission refusal: `pods "x" is forbidden: `.
pub fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> String {
    let resource = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    format!("{resource} \"{name}\" is forbidden: {why}")
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
