//! LimitRange decisions, pure, as Kubernetes' `LimitRanger` admission
//! plugin makes them: a LimitRange's items with the API server's defaults
//! (`default` from `max`, `defaultRequest` from `default` or `min`), a pod
//! spec defaulted from them (the `kubernetes.io/limit-ranger` annotation
//! naming what was set), and the min / max / maxLimitRequestRatio checks of
//! types Container, Pod and PersistentVolumeClaim with the plugin's texts.

use serde_json::{Value, json};

use crate::quantity::{ResourceList, list_of};

/// The annotation LimitRanger writes on a pod it defaulted.
pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// One `spec.limits[]` item, API defaults applied.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub type_: String,
    pub max: ResourceList,
    pub min: ResourceList,
    pub default: ResourceList,
    pub default_request: ResourceList,
    pub ratio: ResourceList,
}

/// The items of a LimitRange object, as `SetDefaults_LimitRangeItem` leaves them.
pub fn items(limit_range: &Value) -> Vec<Item> {
    let list = limit_range
        .pointer("/spec/limits")
        .and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .map(|i| {
            let mut it = Item {
                type_: i["type"].as_str().unwrap_or_default().to_string(),
                max: list_of(i.get("max")),
                min: list_of(i.get("min")),
                default: list_of(i.get("default")),
                default_request: list_of(i.get("defaultRequest")),
                ratio: list_of(i.get("maxLimitRequestRatio")),
            };
            if it.type_ == "Container" {
                for (k, v) in &it.max {
                    it.default.entry(k.clone()).or_insert(*v);
                }
                for (k, v) in it.default.iter().chain(&it.min) {
                    it.default_request.entry(k.clone()).or_insert(*v);
                }
            }
            it
        })
        .collect()
}

/// Every container of a pod spec: `(json pointer, name, init)`.
fn containers(spec: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (field, init) in [("containers", false), ("initContainers", true)] {
        for (i, c) in spec[field].as_array().into_iter().flatten().enumerate() {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            out.push((format!("/{field}/{i}"), name, init));
        }
    }
    out
}

/// The API server's pod defaulting: a container's limit without a request
/// gives the request.
pub fn requests_from_limits(spec: &mut Value) {
    for (at, _, _) in containers(spec) {
        let Some(c) = spec.pointer_mut(&at) else {
            continue;
        };
        let limits = c.pointer("/resources/limits").cloned();
        for (k, v) in limits
            .as_ref()
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if c.pointer(&format!("/resources/requests/{k}")).is_none() {
                c["resources"]["requests"][k] = v.clone();
            }
        }
    }
}

/// Sets the Container items' defaults on containers lacking them; returns
/// the annotation's text (`None`: nothing set).
pub fn apply_defaults(spec: &mut Value, items: &[Item]) -> Option<String> {
    let (mut requests, mut limits) = (ResourceList::new(), ResourceList::new());
    for it in items.iter().filter(|i| i.type_ == "Container") {
        requests.extend(it.default_request.clone());
        limits.extend(it.default.clone());
    }
    let mut notes = Vec::new();
    for (at, name, init) in containers(spec) {
        let Some(c) = spec.pointer_mut(&at) else {
            continue;
        };
        let what = if init { "init container" } else { "container" };
        let mut set = |field: &str, list: &ResourceList| {
            let mut names = Vec::new();
            for (k, v) in list {
                if c.pointer(&format!("/resources/{field}/{k}")).is_none() {
                    c["resources"][field][k] = json!(v.to_string());
                    names.push(k.clone());
                }
            }
            (!names.is_empty()).then(|| {
                format!(
                    "{} {} for {what} {name}",
                    names.join(", "),
                    &field[..field.len() - 1]
                )
            })
        };
        let r = set("requests", &requests);
        let l = set("limits", &limits);
        notes.extend(r.into_iter().chain(l));
    }
    (!notes.is_empty()).then(|| format!("LimitRanger plugin set: {}", notes.join("; ")))
}

/// Containers whose request exceeds their limit (after defaulting), as
/// the API server's validation words it: `(field path, message)`.
pub fn requests_over_limits(spec: &Value, base: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _, _) in containers(spec) {
        let res = spec.pointer(&format!("{at}/resources"));
        let req = list_of(res.and_then(|r| r.get("requests")));
        let lim = list_of(res.and_then(|r| r.get("limits")));
        for (k, r) in &req {
            if let Some(l) = lim.get(k).filter(|l| r > *l) {
                let path = format!("{base}{}.resources.requests", dotted(&at));
                out.push((
                    path,
                    format!(
                        "Invalid value: \"{r}\": must be less than or equal to {k} limit of {l}"
                    ),
                ));
            }
        }
    }
    out
}

/// `/containers/0` → `.containers[0]`.
fn dotted(pointer: &str) -> String {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let field = parts.next().unwrap_or_default();
    format!(".{field}[{}]", parts.next().unwrap_or_default())
}

/// The min/max/ratio violations of a (defaulted) pod spec, in the plugin's
/// order: per item, per container, min, max, ratio.
pub fn check_pod(spec: &Value, items: &[Item]) -> Vec<String> {
    let mut errs = Vec::new();
    for it in items {
        match it.type_.as_str() {
            "Container" => {
                for (at, _, _) in containers(spec) {
                    let res = spec.pointer(&format!("{at}/resources"));
                    let req = list_of(res.and_then(|r| r.get("requests")));
                    let lim = list_of(res.and_then(|r| r.get("limits")));
                    check_item(it, "Container", &req, &lim, &mut errs);
                }
            }
            "Pod" => {
                let (req, lim) = pod_totals(spec);
                check_item(it, "Pod", &req, &lim, &mut errs);
            }
            _ => {}
        }
    }
    errs
}

/// A pod's requests and limits: the sum of its containers, raised to its
/// largest init container.
pub fn pod_totals(spec: &Value) -> (ResourceList, ResourceList) {
    let (mut req, mut lim) = (ResourceList::new(), ResourceList::new());
    for (at, _, init) in containers(spec) {
        let res = spec.pointer(&format!("{at}/resources"));
        for (total, field) in [(&mut req, "requests"), (&mut lim, "limits")] {
            for (k, v) in list_of(res.and_then(|r| r.get(field))) {
                let cur = total.get(&k).copied();
                let next = match (init, cur) {
                    (_, None) => v,
                    (false, Some(c)) => c.add(v),
                    (true, Some(c)) => c.max(v),
                };
                total.insert(k, next);
            }
        }
    }
    (req, lim)
}

fn check_item(it: &Item, ty: &str, req: &ResourceList, lim: &ResourceList, errs: &mut Vec<String>) {
    for (k, min) in &it.min {
        match (req.get(k), lim.get(k)) {
            (None, _) => errs.push(format!(
                "minimum {k} usage per {ty} is {min}.  No request is specified"
            )),
            (Some(r), _) if r < min => errs.push(format!(
                "minimum {k} usage per {ty} is {min}, but request is {r}"
            )),
            (_, Some(l)) if l < min => errs.push(format!(
                "minimum {k} usage per {ty} is {min}, but limit is {l}"
            )),
            _ => {}
        }
    }
    for (k, max) in &it.max {
        match (req.get(k), lim.get(k)) {
            (_, None) => errs.push(format!(
                "maximum {k} usage per {ty} is {max}.  No limit is specified"
            )),
            (_, Some(l)) if l > max => errs.push(format!(
                "maximum {k} usage per {ty} is {max}, but limit is {l}"
            )),
            (Some(r), _) if r > max => errs.push(format!(
                "maximum {k} usage per {ty} is {max}, but request is {r}"
            )),
            _ => {}
        }
    }
    for (k, ratio) in &it.ratio {
        let r = req.get(k).filter(|q| !q.is_zero());
        let l = lim.get(k).filter(|q| !q.is_zero());
        let (Some(r), Some(l)) = (r, l) else {
            let which = if r.is_none() { "request" } else { "limit" };
            errs.push(format!("{k} max limit to request ratio per {ty} is {ratio}, but no {which} is specified or {which} is 0"));
            continue;
        };
        // l / r > ratio, exactly: l > ratio * r (ratio in nano-units).
        if l.nanos() * 1_000_000_000 > ratio.nanos() * r.nanos() {
            let shown = l.nanos() as f64 / r.nanos() as f64;
            errs.push(format!("{k} max limit to request ratio per {ty} is {ratio}, but provided ratio is {shown:.6}"));
        }
    }
}

/// The PersistentVolumeClaim items' checks of a claim's `spec.resources.requests`.
pub fn check_claim(claim: &Value, items: &[Item]) -> Vec<String> {
    let req = list_of(claim.pointer("/spec/resources/requests"));
    let mut errs = Vec::new();
    for it in items.iter().filter(|i| i.type_ == "PersistentVolumeClaim") {
        for (k, min) in &it.min {
            match req.get(k) {
                None => errs.push(format!(
                    "minimum {k} usage per PersistentVolumeClaim is {min}.  No request is specified"
                )),
                Some(r) if r < min => errs.push(format!(
                    "minimum {k} usage per PersistentVolumeClaim is {min}, but request is {r}"
                )),
                _ => {}
            }
        }
        for (k, max) in &it.max {
            match req.get(k) {
                None => errs.push(format!(
                    "maximum {k} usage per PersistentVolumeClaim is {max}.  No request is specified"
                )),
                Some(r) if r > max => errs.push(format!(
                    "maximum {k} usage per PersistentVolumeClaim is {max}, but request is {r}"
                )),
                _ => {}
            }
        }
    }
    errs
}

/// Several errors as `utilerrors.NewAggregate` prints them.
pub fn aggregate(errs: &[String]) -> Option<String> {
    match errs {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(format!("[{}]", many.join(", "))),
    }
}

#[cfg(test)]
#[path = "limit_range_tests.rs"]
mod tests;
