//! LimitRange and ResourceQuota admission over a set of objects: what the
//! API server's `LimitRanger` and `ResourceQuota` plugins do for each
//! create or update, run on the apply's change set (in document order; the
//! quotas and LimitRanges of the same apply govern it) and on the pods the
//! controllers create. The decisions are `limit_range.rs` and `quota.rs`;
//! this file gathers the namespace's LimitRanges, quotas and usage.

use std::collections::BTreeMap;

use ferry_core::objects::StoredObject;
use serde_json::{Value, json};

use crate::kinds::Kind;
use crate::limit_range::{self as lr, Item};
use crate::quantity::{ResourceList, add};
use crate::quota::{self, Quota};
use crate::store::Key;

/// A namespace's LimitRanges and quotas, with what each quota has used.
#[derive(Debug, Default)]
struct Namespace {
    ranges: Vec<Item>,
    quotas: Vec<(Quota, ResourceList)>,
}

/// Admission state: per namespace, what governs it and its usage so far.
#[derive(Debug, Default)]
pub struct Admission {
    namespaces: BTreeMap<String, Namespace>,
}

/// The resource words of a stored object: `(group, kind, plural)`.
fn words(o: &StoredObject) -> (String, String, String) {
    let gk = &o.group_kind;
    let plural = Kind::from_group_kind(gk)
        .map(|k| k.plural().to_string())
        .unwrap_or_else(|| crate::accounts::plural(&gk.kind));
    (gk.group.clone(), gk.kind.clone(), plural)
}

/// The usage `o` charges; `terminal` says whether a pod has finished.
fn usage_of(o: &StoredObject, terminal: &dyn Fn(&StoredObject) -> bool) -> ResourceList {
    let (group, kind, plural) = words(o);
    quota::usage(&group, &kind, &plural, &o.value, terminal(o))
}

fn is(o: &StoredObject, kind: Kind) -> bool {
    o.group_kind == kind.group_kind()
}

impl Admission {
    /// Gathers LimitRanges and quotas from `governing` (the objects as they
    /// will be) and each quota's usage from `existing` (as they are).
    pub fn new(
        governing: &[&StoredObject],
        existing: &[&StoredObject],
        terminal: &dyn Fn(&StoredObject) -> bool,
    ) -> Self {
        let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
        for o in governing {
            let ns = o.namespace.clone().unwrap_or_default();
            if is(o, Kind::LimitRange) {
                let entry = namespaces.entry(ns.clone()).or_default();
                entry.ranges.extend(lr::items(&o.value));
            } else if is(o, Kind::ResourceQuota) {
                let q = Quota::of(&o.value);
                let entry = namespaces.entry(ns).or_default();
                entry.quotas.push((q, ResourceList::new()));
            }
        }
        for o in existing {
            let ns = o.namespace.as_deref().unwrap_or_default();
            let Some(n) = namespaces.get_mut(ns).filter(|n| !n.quotas.is_empty()) else {
                continue;
            };
            let u = usage_of(o, terminal);
            for (q, used) in &mut n.quotas {
                if q.matches(&o.group_kind.kind, &o.value) {
                    *used = add(used, &masked(&u, q));
                }
            }
        }
        Self { namespaces }
    }

    /// True when no LimitRange or quota governs namespace `ns`.
    pub fn idle(&self, ns: &str) -> bool {
        !self.namespaces.contains_key(ns)
    }

    /// Admits the creation (`old` None) or update of `o`: a pod's resources
    /// are defaulted (the annotation naming what was set), LimitRanges and
    /// quotas checked and the usage charged. `Err` is the API server's text.
    pub fn admit(
        &mut self,
        o: &mut StoredObject,
        old: Option<&StoredObject>,
        terminal: &dyn Fn(&StoredObject) -> bool,
    ) -> Result<(), String> {
        let ns = o.namespace.clone().unwrap_or_default();
        let Some(n) = self.namespaces.get_mut(&ns) else {
            return Ok(());
        };
        let (group, kind, plural) = words(o);
        let name = o.name.clone();
        let forbidden = |why: &str| quota::forbidden(&group, &plural, &name, why);
        if is(o, Kind::Pod) {
            let spec = &mut o.value["spec"];
            lr::requests_from_limits(spec);
            if let Some(note) = lr::apply_defaults(spec, &n.ranges) {
                o.value["metadata"]["annotations"][lr::ANNOTATION] = json!(note);
            }
            if let Some((path, why)) = lr::requests_over_limits(&o.value["spec"], "spec").first() {
                return Err(format!("Pod \"{}\" is invalid: {path}: {why}", o.name));
            }
            let errs = lr::check_pod(&o.value["spec"], &n.ranges);
            if let Some(why) = lr::aggregate(&errs) {
                return Err(forbidden(&why));
            }
        } else if kind == "PersistentVolumeClaim"
            && group.is_empty()
            && let Some(why) = lr::aggregate(&lr::check_claim(&o.value, &n.ranges))
        {
            return Err(forbidden(&why));
        }
        let new = usage_of(o, terminal);
        let old = old.map(|p| usage_of(p, terminal));
        let requested = quota::delta(&new, old.as_ref());
        let matching: Vec<usize> = (0..n.quotas.len())
            .filter(|i| n.quotas[*i].0.matches(&kind, &o.value))
            .collect();
        for i in &matching {
            let q = &n.quotas[*i].0;
            if is(o, Kind::Pod) {
                quota::constraints(q, &o.value["spec"]).map_err(|why| forbidden(&why))?;
            }
        }
        if requested.is_empty() {
            return Ok(());
        }
        for i in &matching {
            let (q, used) = &n.quotas[*i];
            quota::check(q, used, &requested).map_err(|why| forbidden(&why))?;
        }
        for i in matching {
            let (q, used) = &mut n.quotas[i];
            *used = add(used, &masked(&requested, q));
        }
        Ok(())
    }

    /// What can never succeed for the pods of a workload's template at
    /// `pointer` (`/spec/template/spec`): its containers, defaulted, break a
    /// LimitRange, leave out what a quota tracks, or one pod alone exceeds
    /// a quota. Kubernetes refuses only the pods; ferry refuses the
    /// workload, as it does for Pod Security.
    pub fn check_template(&self, ns: &str, spec: &Value) -> Vec<String> {
        let Some(n) = self.namespaces.get(ns) else {
            return vec![];
        };
        let mut spec = spec.clone();
        lr::requests_from_limits(&mut spec);
        lr::apply_defaults(&mut spec, &n.ranges);
        let mut out: Vec<String> = lr::requests_over_limits(&spec, "spec")
            .into_iter()
            .map(|(path, why)| format!("{path}: {why}"))
            .collect();
        out.extend(lr::aggregate(&lr::check_pod(&spec, &n.ranges)));
        let pod = json!({"spec": spec});
        let one = quota::usage("", "Pod", "pods", &pod, false);
        for (q, _) in n.quotas.iter().filter(|(q, _)| q.matches("Pod", &pod)) {
            let alone = quota::constraints(q, &spec)
                .and_then(|()| quota::check(q, &ResourceList::new(), &one));
            out.extend(alone.err());
        }
        out
    }

    /// Each quota's hard limits and usage in namespace `ns`, as `status`.
    pub fn statuses(&self, ns: &str) -> Vec<(String, Value)> {
        let Some(n) = self.namespaces.get(ns) else {
            return vec![];
        };
        let show = |l: &ResourceList| -> Value {
            l.iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect()
        };
        n.quotas
            .iter()
            .map(|(q, used)| {
                let used: ResourceList = q
                    .hard
                    .keys()
                    .map(|k| {
                        (
                            k.clone(),
                            used.get(k)
                                .copied()
                                .unwrap_or(crate::quantity::Quantity::count(0)),
                        )
                    })
                    .collect();
                (
                    q.name.clone(),
                    json!({"hard": show(&q.hard), "used": show(&used)}),
                )
            })
            .collect()
    }
}

/// `u` limited to the resources `q` tracks.
fn masked(u: &ResourceList, q: &Quota) -> ResourceList {
    u.iter()
        .filter(|(k, _)| q.hard.contains_key(*k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The pod-template pointer of a workload object, with its field path.
pub fn template_of(o: &StoredObject) -> Option<(&'static str, &'static str)> {
    match Kind::from_group_kind(&o.group_kind)? {
        Kind::Deployment | Kind::ReplicaSet | Kind::Job | Kind::StatefulSet | Kind::DaemonSet => {
            Some(("/spec/template/spec", "spec.template.spec"))
        }
        Kind::CronJob => Some((
            "/spec/jobTemplate/spec/template/spec",
            "spec.jobTemplate.spec.template.spec",
        )),
        _ => None,
    }
}

/// `objects` with `changes` laid over them (same key: the change wins).
pub fn overlay<'a>(
    objects: &'a [&'a StoredObject],
    changes: &'a [StoredObject],
) -> Vec<&'a StoredObject> {
    let changed: BTreeMap<Key, &StoredObject> = changes.iter().map(|c| (Key::of(c), c)).collect();
    let mut out: Vec<&StoredObject> = objects
        .iter()
        .filter(|o| !changed.contains_key(&Key::of(o)))
        .copied()
        .collect();
    out.extend(changes.iter());
    out
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
