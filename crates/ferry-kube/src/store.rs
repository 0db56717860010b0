//! What the watch of one kind keeps (pure; [`crate::watch`] feeds it):
//! every object of the kind that carries `app.ferry.dev/name`, as compact
//! JSON without managedFields (see [`crate::lean`]) with its app label and
//! resourceVersion beside it, so `list` answers from memory. A relist
//! fills a new map swapped in when complete; after it only objects whose
//! resourceVersion changed, or that vanished, are reported. The store
//! serves reads once its first list is complete and while its watch is
//! connected; otherwise `list` asks the API server.

use std::collections::HashMap;

use ferry_core::objects::GroupKind;
use ferry_delivery::object::{LABEL_APP, ObjKey, label};
use serde_json::Value;

use crate::lean::{Lean, not_older};

/// Namespace and name.
type Name = (Option<Box<str>>, Box<str>);

/// One object as kept.
#[derive(Debug)]
struct Entry {
    app: Box<str>,
    rv: Box<str>,
    json: Box<str>,
}

/// The objects of one kind; see the module docs.
#[derive(Debug)]
pub struct KindStore {
    gk: GroupKind,
    api_version: String,
    objects: HashMap<Name, Entry>,
    relist: Option<HashMap<Name, Entry>>,
    synced: bool,
    live: bool,
}

fn name_of(v: &Value) -> Name {
    let meta = |f: &str| v.pointer(&format!("/metadata/{f}")).and_then(Value::as_str);
    (
        meta("namespace").map(Box::from),
        Box::from(meta("name").unwrap_or_default()),
    )
}

impl KindStore {
    /// An empty store of `gk`, served as `api_version`.
    pub fn new(gk: GroupKind, api_version: &str) -> Self {
        Self {
            gk,
            api_version: api_version.to_string(),
            objects: HashMap::new(),
            relist: None,
            synced: false,
            live: false,
        }
    }

    fn key(&self, (ns, name): &Name) -> ObjKey {
        ObjKey {
            group_kind: self.gk.clone(),
            namespace: ns.as_deref().map(str::to_string),
            name: name.to_string(),
        }
    }

    fn entry(&self, Lean(mut v): Lean) -> (Name, Entry) {
        v["apiVersion"] = Value::String(self.api_version.clone());
        v["kind"] = Value::String(self.gk.kind.clone());
        let rv = v
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let entry = Entry {
            app: Box::from(label(&v, LABEL_APP).unwrap_or_default()),
            rv: Box::from(rv),
            json: serde_json::to_string(&v).unwrap_or_default().into(),
        };
        (name_of(&v), entry)
    }

    /// True once the first list is complete and while the watch is
    /// connected: reads may come from here.
    pub fn serves(&self) -> bool {
        self.synced && self.live
    }

    /// The watch connected (true) or failed (false).
    pub fn set_live(&mut self, live: bool) {
        self.live = live;
    }

    /// A relist starts: objects go to a new map until [`Self::end_relist`].
    pub fn begin_relist(&mut self) {
        self.relist = Some(HashMap::new());
        self.live = false;
    }

    /// One object of the relist.
    pub fn relisted(&mut self, o: Lean) {
        let (name, entry) = self.entry(o);
        self.relist.get_or_insert_default().insert(name, entry);
    }

    /// The relist is complete: it replaces the objects. Returns the keys
    /// whose resourceVersion changed, new and vanished ones — nothing
    /// after the first list, which is no change.
    pub fn end_relist(&mut self) -> Vec<ObjKey> {
        let new = self.relist.take().unwrap_or_default();
        let old = std::mem::replace(&mut self.objects, new);
        let first = !std::mem::replace(&mut self.synced, true);
        if first {
            return Vec::new();
        }
        let mut changed: Vec<ObjKey> = self
            .objects
            .iter()
            .filter(|(n, e)| old.get(*n).is_none_or(|o| o.rv != e.rv))
            .map(|(n, _)| self.key(n))
            .collect();
        changed.extend(
            old.keys()
                .filter(|n| !self.objects.contains_key(*n))
                .map(|n| self.key(n)),
        );
        changed
    }

    /// An object as the server now has it (a watch event, or the answer to
    /// ferry's own apply); an older version than the one kept is ignored.
    /// Returns its key when the kept version changed.
    pub fn applied(&mut self, o: Lean) -> Option<ObjKey> {
        let (name, entry) = self.entry(o);
        if let Some(old) = self.objects.get(&name)
            && (old.rv == entry.rv || !not_older(&entry.rv, &old.rv))
        {
            return None;
        }
        let key = self.key(&name);
        self.objects.insert(name, entry);
        Some(key)
    }

    /// An object was deleted; returns its key.
    pub fn deleted(&mut self, o: &Lean) -> ObjKey {
        let name = name_of(&o.0);
        self.objects.remove(&name);
        self.key(&name)
    }

    /// Objects whose label `key` is `value` (any value when empty).
    pub fn matching(&self, key: &str, value: &str) -> Vec<Value> {
        self.objects
            .values()
            .filter(|e| key != LABEL_APP || value.is_empty() || *e.app == *value)
            .filter_map(|e| serde_json::from_str::<Value>(&e.json).ok())
            .filter(|v| {
                key == LABEL_APP || label(v, key).is_some_and(|l| value.is_empty() || l == value)
            })
            .collect()
    }

    /// How many objects and bytes of JSON are kept (for the logs).
    pub fn size(&self) -> (usize, usize) {
        let bytes = self
            .objects
            .values()
            .map(|e| e.json.len() + e.app.len() + e.rv.len())
            .sum();
        (self.objects.len(), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, rv: &str) -> Lean {
        Lean(
            json!({"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv,
            "labels": {LABEL_APP: "web"}}, "data": {"k": rv}}),
        )
    }

    fn store() -> KindStore {
        KindStore::new(GroupKind::new("", "ConfigMap"), "v1")
    }

    #[test]
    fn a_relist_reports_only_what_changed_or_vanished() {
        let mut s = store();
        s.begin_relist();
        s.relisted(obj("a", "1"));
        s.relisted(obj("b", "1"));
        assert!(!s.serves(), "not before the first list");
        assert!(s.end_relist().is_empty(), "the first list is no change");
        s.set_live(true);
        assert!(s.serves());
        assert_eq!(s.applied(obj("a", "2")).unwrap().name, "a");
        // After a 410 Gone: a relist where a is unchanged and b was deleted.
        s.begin_relist();
        assert!(!s.serves(), "not while relisting");
        s.relisted(obj("a", "2"));
        let gone = s.end_relist();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].name, "b");
        s.begin_relist();
        s.relisted(obj("a", "3"));
        assert_eq!(s.end_relist().len(), 1);
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let mut s = store();
        s.begin_relist();
        s.end_relist();
        assert!(s.applied(obj("a", "5")).is_some(), "ferry's apply answer");
        assert!(s.applied(obj("a", "4")).is_none(), "an older watch event");
        assert!(s.applied(obj("a", "5")).is_none(), "the same version again");
        assert!(s.applied(obj("a", "6")).is_some());
        let got = s.matching(LABEL_APP, "web");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["data"]["k"], "6");
        assert_eq!(got[0]["kind"], "ConfigMap");
        assert_eq!(got[0]["apiVersion"], "v1");
        assert!(s.matching(LABEL_APP, "other").is_empty());
        assert_eq!(s.matching(LABEL_APP, "").len(), 1);
        assert_eq!(s.deleted(&obj("a", "7")).name, "a");
        assert!(s.matching(LABEL_APP, "").is_empty());
    }
}
