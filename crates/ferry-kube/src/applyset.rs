//! The kubectl ApplySet (KEP-3659) that records what ferry applied for one
//! application in one environment: a parent Secret in the environment's
//! namespace carries the set's id, ferry's tooling mark and the group-kinds
//! and extra namespaces of its members; every member carries the
//! `applyset.kubernetes.io/part-of` label. Pure: naming, ids, the parent's
//! metadata and the prune decision; `target.rs` does the IO.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_core::objects::GroupKind;
use ferry_delivery::object::ObjKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Label on the parent: the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of the set it belongs to.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: the tool that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: `Kind.group` of every member kind, sorted.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation on the parent: member namespaces other than the parent's.
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// ferry's tooling value (`<tool>/<version>`, as the KEP asks).
pub const TOOLING: &str = "ferry/v1";

/// One application's set in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    /// The parent Secret's name.
    pub name: String,
    /// The parent Secret's namespace (the environment's).
    pub namespace: String,
}

impl ApplySet {
    /// The set of `app` in `environment`, its parent in `namespace`.
    pub fn new(app: &str, environment: &str, namespace: &str) -> Self {
        Self {
            name: format!("ferry.{app}.{environment}"),
            namespace: namespace.to_string(),
        }
    }

    /// The KEP's id: `applyset-` + base64url(sha256("<name>.<namespace>.Secret.")) + `-v1`
    /// (the core group is empty).
    pub fn id(&self) -> String {
        applyset_id(&self.name, &self.namespace, "Secret", "")
    }

    /// The parent Secret as applied, recording `kinds` and `namespaces`.
    pub fn parent(&self, kinds: &BTreeSet<GroupKind>, namespaces: &BTreeSet<String>) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {ID_LABEL: self.id()},
                "annotations": {
                    TOOLING_ANNOTATION: TOOLING,
                    GROUP_KINDS_ANNOTATION: group_kinds_value(kinds),
                    NAMESPACES_ANNOTATION: namespaces_value(namespaces, &self.namespace),
                },
            },
        })
    }
}

/// The KEP's id of any parent object.
pub fn applyset_id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let hash = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}"));
    format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(hash))
}

/// `Kind.group` (`Kind` for the core group), kubectl's spelling.
pub fn group_kind_string(gk: &GroupKind) -> String {
    gk.to_string()
}

/// Parses `Kind.group` back (the first dot splits kind from group).
pub fn parse_group_kind(s: &str) -> GroupKind {
    match s.split_once('.') {
        Some((kind, group)) => GroupKind::new(group, kind),
        None => GroupKind::new("", s),
    }
}

fn group_kinds_value(kinds: &BTreeSet<GroupKind>) -> String {
    let mut v: Vec<String> = kinds.iter().map(group_kind_string).collect();
    v.sort();
    v.join(",")
}

fn namespaces_value(namespaces: &BTreeSet<String>, own: &str) -> String {
    let v: Vec<&str> = namespaces
        .iter()
        .map(String::as_str)
        .filter(|n| *n != own)
        .collect();
    v.join(",")
}

/// What a parent's annotations say: member kinds and namespaces (the
/// parent's own included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub kinds: BTreeSet<GroupKind>,
    pub namespaces: BTreeSet<String>,
    pub tooling: Option<String>,
}

impl Recorded {
    /// Reads a live parent object (`None`: no parent yet).
    pub fn of(parent: Option<&Value>, own_namespace: &str) -> Self {
        let mut r = Recorded::default();
        r.namespaces.insert(own_namespace.to_string());
        let Some(p) = parent else { return r };
        let ann = |k: &str| {
            p.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
        };
        r.tooling = ann(TOOLING_ANNOTATION).map(str::to_string);
        let items = |v: Option<&str>| {
            v.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        r.kinds = items(ann(GROUP_KINDS_ANNOTATION))
            .iter()
            .map(|s| parse_group_kind(s))
            .collect();
        r.namespaces.extend(items(ann(NAMESPACES_ANNOTATION)));
        r
    }

    /// True when the parent belongs to another tool (kubectl, helm…):
    /// ferry must not change its members.
    pub fn foreign(&self) -> Option<&str> {
        let t = self.tooling.as_deref()?;
        let base = t.rsplit_once('/').map_or(t, |(b, _)| b);
        (base != "ferry").then_some(t)
    }
}

/// Kinds and namespaces of a batch of keys (cluster-scoped keys add no
/// namespace).
pub fn scope_of<'a>(
    keys: impl IntoIterator<Item = &'a ObjKey>,
) -> (BTreeSet<GroupKind>, BTreeSet<String>) {
    let mut kinds = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for k in keys {
        kinds.insert(k.group_kind.clone());
        if let Some(ns) = &k.namespace {
            namespaces.insert(ns.clone());
        }
    }
    (kinds, namespaces)
}

/// The prune decision: live objects that carry this set's part-of label and
/// are not in `keep`. Objects without the label, or with another set's, are
/// never chosen, whatever else they carry.
pub fn prune_candidates(id: &str, live: &[Value], keep: &BTreeSet<ObjKey>) -> Vec<ObjKey> {
    let mut out: Vec<ObjKey> = live
        .iter()
        .filter(|v| ferry_delivery::object::label(v, PART_OF_LABEL) == Some(id))
        .filter_map(ObjKey::of_value)
        .filter(|k| !keep.contains(k))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[path = "applyset_tests.rs"]
mod tests;
