//! Source kinds the gateway owns, their typed specs, and helpers shared by
//! the compilers: decoding a spec with its field path, Istio/Kubernetes
//! durations, Service host names, and located problems.

pub mod istio;
pub mod k8s;
pub mod service_entry;

use std::time::Duration;

use ferry_core::error::Problem;
use ferry_core::mesh::ServiceKey;
use ferry_core::objects::{GroupKind, StoredObject};
use serde::de::DeserializeOwned;

pub const ISTIO: &str = "networking.istio.io";
pub const GATEWAY_API: &str = "gateway.networking.k8s.io";
pub const NETWORKING: &str = "networking.k8s.io";

/// Every kind the gateway owns.
pub fn kinds() -> Vec<GroupKind> {
    vec![
        GroupKind::new(NETWORKING, "Ingress"),
        GroupKind::new(GATEWAY_API, "Gateway"),
        GroupKind::new(GATEWAY_API, "HTTPRoute"),
        GroupKind::new(ISTIO, "Gateway"),
        GroupKind::new(ISTIO, "VirtualService"),
        GroupKind::new(ISTIO, "DestinationRule"),
    ]
}

/// An object being compiled: identity plus a helper to locate problems.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub obj: &'a StoredObject,
    pub namespace: String,
}

impl<'a> Ctx<'a> {
    pub fn new(obj: &'a StoredObject) -> Self {
        let namespace = obj
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        Self { obj, namespace }
    }

    /// `Kind/namespace/name`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}",
            self.obj.group_kind.kind, self.namespace, self.obj.name
        )
    }

    /// A problem at `path` (a dotted field path) of this object.
    pub fn problem(&self, path: impl Into<String>, message: impl Into<String>) -> Problem {
        let path = path.into();
        Problem {
            file: self.obj.source.clone(),
            document: None,
            object: Some(format!("{}/{}", self.obj.group_kind.kind, self.obj.name)),
            path: (!path.is_empty()).then_some(path),
            message: message.into(),
            suggestion: None,
        }
    }

    /// Decodes `spec` into `T`, naming the field path on failure.
    pub fn spec<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let spec = self
            .obj
            .value
            .get("spec")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if spec.is_null() {
            return Err(self.problem("spec", "missing spec"));
        }
        ferry_core::yaml::decode_value::<T>(&spec).map_err(|(path, message, suggestion)| {
            let path = if path.is_empty() {
                "spec".to_string()
            } else {
                format!("spec.{path}")
            };
            self.problem(path, message).with_suggestion(suggestion)
        })
    }

    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        let v = self
            .obj
            .value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        v.rsplit('/').next().unwrap_or(v)
    }

    /// The Service a host name refers to, resolved in this object's namespace.
    pub fn service(&self, host: &str) -> ServiceKey {
        service_key(host, &self.namespace)
    }
}

/// `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]` → `ns/svc`.
pub fn service_key(host: &str, default_ns: &str) -> ServiceKey {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_suffix(".cluster.local").unwrap_or(&host);
    let host = host.strip_suffix(".svc").unwrap_or(host);
    let (name, ns) = host.split_once('.').unwrap_or((host, default_ns));
    ServiceKey {
        namespace: ns.to_string(),
        name: name.to_string(),
    }
}

/// Parses a duration such as `5s`, `0.5s`, `100ms`, `1m30s`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, crate::Error> {
    let err = || crate::Error::Duration {
        value: s.to_string(),
    };
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(err()),
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Compiles an anchored regex (RE2 semantics: the whole value must match).
pub fn full_regex(pattern: &str) -> Result<regex::Regex, crate::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| crate::Error::Regex {
        pattern: pattern.to_string(),
        reason: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_istio() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        for bad in ["", "5", "s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_hosts_resolve_in_the_object_namespace() {
        let k = service_key("myhero-ui", "myhero");
        assert_eq!(
            (k.namespace.as_str(), k.name.as_str()),
            ("myhero", "myhero-ui")
        );
        let k = service_key("reviews.prod.svc.cluster.local", "default");
        assert_eq!((k.namespace.as_str(), k.name.as_str()), ("prod", "reviews"));
    }

    #[test]
    fn regexes_are_anchored() {
        let r = full_regex("/v[0-9]+").unwrap();
        assert!(r.is_match("/v12"));
        assert!(!r.is_match("/v12/x"));
        assert!(full_regex("(").is_err());
    }
}
