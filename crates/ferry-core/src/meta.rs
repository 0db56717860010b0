//! Kubernetes-style `TypeMeta` and `ObjectMeta` for ferry's own kinds.
//!
//! Field names and meanings follow `metav1.ObjectMeta`; the server-owned
//! fields (`uid`, `generation`, `resourceVersion`, `creationTimestamp`) are
//! optional on input and filled in by whichever store persists the object.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `apiVersion` and `kind` of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    pub api_version: String,
    pub kind: String,
}

/// Metadata every stored object carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Unique within kind (and namespace, for namespaced kinds).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
}

impl ObjectMeta {
    /// Metadata with just a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// Checks a name against RFC 1123 DNS label rules (what Kubernetes requires
/// of most object names): lowercase alphanumerics and `-`, at most 63
/// characters, starting and ending with an alphanumeric.
pub fn validate_dns_label(name: &str) -> Result<(), crate::Error> {
    let err = |too_long| crate::Error::DnsLabel {
        name: name.to_string(),
        too_long,
    };
    if name.is_empty() {
        return Err(err(false));
    }
    if name.len() > 63 {
        return Err(err(true));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.chars().all(ok_char) || !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err(err(false));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(validate_dns_label("uk").is_ok());
        assert!(validate_dns_label("shanghai-1").is_ok());
        assert!(validate_dns_label("").is_err());
        assert!(validate_dns_label("-a").is_err());
        assert!(validate_dns_label("UK").is_err());
        assert!(validate_dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn metadata_round_trips_in_kubernetes_spelling() {
        let m: ObjectMeta =
            serde_json::from_str(r#"{"name":"a","labels":{"tier":"dev"},"resourceVersion":"3"}"#)
                .unwrap();
        assert_eq!(m.resource_version.as_deref(), Some("3"));
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["labels"]["tier"], "dev");
        assert!(back.get("uid").is_none());
    }
}
