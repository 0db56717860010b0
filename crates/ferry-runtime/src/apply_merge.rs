//! Merging a planned document with the stored object it replaces, as
//! `apply` writes it: server-assigned fields, status and generation carried
//! over, and whether the object was created, configured or unchanged.

use ferry_core::objects::StoredObject;
use serde_json::{Value, json};

use crate::apply::{APPLIED_HASH, Planned};
use crate::kinds::Kind;

/// Merges a planned document with the stored object it replaces: keeps uid,
/// creation time, status and server-assigned fields; bumps generation when
/// the spec changed. Returns the object and what happened.
pub fn merge(
    p: &Planned,
    old: Option<&StoredObject>,
    rv: u64,
    now: &str,
) -> (StoredObject, &'static str) {
    let mut value = p.value.clone();
    let old_hash = old
        .and_then(|o| {
            o.value.pointer(&format!(
                "/metadata/annotations/{}",
                APPLIED_HASH.replace('/', "~1")
            ))
        })
        .and_then(Value::as_str);
    let meta = &mut value["metadata"];
    meta["annotations"][APPLIED_HASH] = json!(p.hash);
    let action = match old {
        None => {
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
            meta["creationTimestamp"] = json!(now);
            meta["generation"] = json!(1);
            "created"
        }
        Some(o) => {
            let om = &o.value["metadata"];
            meta["uid"] = om["uid"].clone();
            meta["creationTimestamp"] = om["creationTimestamp"].clone();
            let generation = om["generation"].as_i64().unwrap_or(1);
            let spec_changed = o.value.get("spec") != p.value.get("spec");
            meta["generation"] = json!(if spec_changed {
                generation + 1
            } else {
                generation
            });
            if let Some(status) = o.value.get("status") {
                value["status"] = status.clone();
            }
            if let Some(ip) = o.value.pointer("/spec/clusterIP")
                && value.get("spec").is_some()
                && value.pointer("/spec/clusterIP").is_none()
            {
                value["spec"]["clusterIP"] = ip.clone();
            }
            // A pod stays bound to the node it was scheduled to.
            if let Some(node) = o.value.pointer("/spec/nodeName")
                && p.kind == Some(Kind::Pod)
                && value.pointer("/spec/nodeName").is_none()
            {
                value["spec"]["nodeName"] = node.clone();
            }
            if old_hash == Some(p.hash.as_str()) {
                "unchanged"
            } else {
                "configured"
            }
        }
    };
    value["metadata"]["resourceVersion"] = json!(rv.to_string());
    let obj = StoredObject {
        group_kind: p.key.group_kind.clone(),
        namespace: (!p.key.namespace.is_empty()).then(|| p.key.namespace.clone()),
        name: p.key.name.clone(),
        source: p.source.clone(),
        value,
    };
    (obj, action)
}
