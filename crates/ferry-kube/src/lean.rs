//! Objects as ferry keeps them from the API server, parsed without what it
//! never reads: `metadata.managedFields` (the bulk of most objects) is
//! skipped while parsing, so it is never allocated, and kubectl's
//! `last-applied-configuration` annotation (a second copy of the object) is
//! dropped. Pure: the watch and list IO hand bytes here.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// kubectl's copy of what it last applied (client-side apply).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object's JSON without managedFields and kubectl's last-applied copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lean(pub Value);

impl Lean {
    /// The object's resourceVersion (empty when absent).
    pub fn resource_version(&self) -> &str {
        self.0
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Lean {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Top).map(|m| Lean(Value::Object(m)))
    }
}

/// The object: every field as serde_json parses it, `metadata` leanly.
struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = a.next_key::<String>()? {
            let v = if k == "metadata" {
                Value::Object(a.next_value::<LeanMeta>()?.0)
            } else {
                a.next_value::<Value>()?
            };
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// `metadata` without managedFields (skipped unparsed) and without the
/// last-applied annotation.
struct LeanMeta(Map<String, Value>);

impl<'de> Deserialize<'de> for LeanMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Meta)
    }
}

struct Meta;

impl<'de> Visitor<'de> for Meta {
    type Value = LeanMeta;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("object metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LeanMeta, A::Error> {
        let mut out = Map::new();
        while let Some(k) = a.next_key::<String>()? {
            if k == "managedFields" {
                a.next_value::<IgnoredAny>()?;
                continue;
            }
            let mut v = a.next_value::<Value>()?;
            if k == "annotations"
                && let Some(m) = v.as_object_mut()
            {
                m.remove(LAST_APPLIED);
            }
            out.insert(k, v);
        }
        Ok(LeanMeta(out))
    }
}

/// One page of a LIST: its items and where the next page starts.
#[derive(Debug, Deserialize)]
pub struct LeanList {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<Lean>,
}

/// A list's `metadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Lean>, D::Error> {
    Ok(Option::<Vec<Lean>>::deserialize(d)?.unwrap_or_default())
}

/// One line of a watch stream.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
pub enum LeanEvent {
    Added(Lean),
    Modified(Lean),
    Deleted(Lean),
    /// Only the resourceVersion matters.
    Bookmark(Lean),
    /// A `Status` (410 Gone: the version is too old, relist).
    Error(Value),
}

impl LeanEvent {
    /// The HTTP-like code of an `ERROR` event.
    pub fn error_code(status: &Value) -> u16 {
        status
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or_default()
    }
}

/// Whether resourceVersion `new` is not older than `old`. Kubernetes calls
/// them opaque, but every API server backed by etcd hands out increasing
/// integers; anything else counts as newer (the watch's order decides).
pub fn not_older(new: &str, old: &str) -> bool {
    match (new.parse::<u64>(), old.parse::<u64>()) {
        (Ok(n), Ok(o)) => n >= o,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_fields_and_last_applied_are_not_kept() {
        let text = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a",
            "managedFields":[{"manager":"ferry","fieldsV1":{"f:data":{}}}],
            "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{...}","keep":"me"},
            "resourceVersion":"42"},"data":{"k":"v"}}"#;
        let lean: Lean = serde_json::from_str(text).unwrap();
        assert_eq!(lean.0.pointer("/metadata/managedFields"), None);
        assert_eq!(
            lean.0.pointer("/metadata/annotations"),
            Some(&serde_json::json!({"keep": "me"}))
        );
        assert_eq!(lean.0["data"]["k"], "v");
        assert_eq!(lean.resource_version(), "42");
    }

    #[test]
    fn watch_lines_and_list_pages_parse() {
        let e: LeanEvent = serde_json::from_str(
            r#"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"7"}}}"#,
        )
        .unwrap();
        assert!(matches!(e, LeanEvent::Modified(o) if o.resource_version() == "7"));
        let e: LeanEvent = serde_json::from_str(
            r#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#,
        )
        .unwrap();
        assert!(matches!(e, LeanEvent::Error(s) if LeanEvent::error_code(&s) == 410));
        let l: LeanList = serde_json::from_str(
            r#"{"kind":"List","metadata":{"resourceVersion":"9","continue":"abc"},"items":null}"#,
        )
        .unwrap();
        assert!(l.items.is_empty());
        assert_eq!(l.metadata.continue_token.as_deref(), Some("abc"));
        assert_eq!(l.metadata.resource_version.as_deref(), Some("9"));
    }

    #[test]
    fn resource_versions_compare_as_numbers() {
        assert!(not_older("10", "9"));
        assert!(not_older("9", "9"));
        assert!(!not_older("9", "10"));
        assert!(not_older("opaque", "10"));
    }
}
