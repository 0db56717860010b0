//! Knative Serving's `serving.knative.dev/v1` types as ferry reads them
//! (`Service` with its revision template and `traffic`), the labels Knative
//! puts on what a Service owns, and the `autoscaling.knative.dev/*`
//! annotations parsed into [`ScaleSettings`] with Knative's defaults
//! (`config-autoscaler`: target 100, target utilisation 70 %, stable window
//! 60 s, initial scale 1, min scale 0, max scale 0 = unbounded).

use std::time::Duration;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API group of Knative Serving.
pub const GROUP: &str = "serving.knative.dev";
/// Pod and object labels Knative sets.
pub const LABEL_SERVICE: &str = "serving.knative.dev/service";
pub const LABEL_CONFIGURATION: &str = "serving.knative.dev/configuration";
pub const LABEL_CONFIGURATION_GENERATION: &str = "serving.knative.dev/configurationGeneration";
pub const LABEL_REVISION: &str = "serving.knative.dev/revision";
pub const LABEL_REVISION_UID: &str = "serving.knative.dev/revisionUID";
/// ferry's record of the template a Revision was made from.
pub const TEMPLATE_HASH: &str = "ferry.dev/template-hash";

/// `autoscaling.knative.dev/*` annotation keys.
pub const MIN_SCALE: &str = "autoscaling.knative.dev/min-scale";
pub const MAX_SCALE: &str = "autoscaling.knative.dev/max-scale";
pub const INITIAL_SCALE: &str = "autoscaling.knative.dev/initial-scale";
pub const TARGET: &str = "autoscaling.knative.dev/target";
pub const WINDOW: &str = "autoscaling.knative.dev/window";
pub const RETENTION: &str = "autoscaling.knative.dev/scale-to-zero-pod-retention-period";

/// The port a container serves on when it declares none (Knative's default).
pub const DEFAULT_PORT: i32 = 8080;

/// A Knative Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KService {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `spec` of a Service: a Configuration's template and a Route's traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default)]
    pub template: RevisionTemplate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
}

/// `spec.template`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RevisionSpec,
}

/// A Revision's spec: a pod spec plus Knative's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSpec {
    #[serde(flatten)]
    pub pod: PodSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
}

/// One entry of `spec.traffic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A revision's autoscaling settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSettings {
    pub min: u32,
    /// `None`: unbounded.
    pub max: Option<u32>,
    pub initial: u32,
    /// Concurrent requests per pod the autoscaler aims for (after utilisation).
    pub target: f64,
    pub window: Duration,
    pub retention: Duration,
}

/// Knative's `container-concurrency-target-percentage`.
const UTILIZATION: f64 = 0.7;

impl ScaleSettings {
    /// Reads a template's annotations and `containerConcurrency`; values
    /// that do not parse were refused at apply, so defaults stand in.
    pub fn of(annotations: Option<&std::collections::BTreeMap<String, String>>, cc: u32) -> Self {
        let get = |k: &str| annotations.and_then(|a| a.get(k)).map(String::as_str);
        let int = |k: &str| get(k).and_then(|v| v.parse::<u32>().ok());
        let target = get(TARGET)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(if cc > 0 { f64::from(cc) } else { 100.0 });
        let target = if cc > 0 {
            target.min(f64::from(cc))
        } else {
            target
        };
        Self {
            min: int(MIN_SCALE).unwrap_or(0),
            max: int(MAX_SCALE).filter(|m| *m > 0),
            initial: int(INITIAL_SCALE).unwrap_or(1),
            target: (target * UTILIZATION).max(0.01),
            window: get(WINDOW)
                .and_then(parse_duration)
                .unwrap_or(Duration::from_secs(60)),
            retention: get(RETENTION)
                .and_then(parse_duration)
                .unwrap_or(Duration::ZERO),
        }
    }
}

/// Knative's names for unnamed containers: `user-container` for the
/// serving one (the first declaring a port, else the first), else
/// `user-container-<index>`.
pub fn container_name(index: usize, serving: usize) -> String {
    if index == serving {
        "user-container".into()
    } else {
        format!("user-container-{index}")
    }
}

/// A Go duration (`6s`, `1m30s`, `500ms`, `1h`); `0` alone is zero.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(n * scale);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("6s"), Some(Duration::from_secs(6)));
        assert_eq!(parse_duration("1m5s"), Some(Duration::from_secs(65)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("6"), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn settings_default_as_knative_and_cap_the_target_at_concurrency() {
        let s = ScaleSettings::of(None, 0);
        assert_eq!((s.min, s.max, s.initial), (0, None, 1));
        assert!((s.target - 70.0).abs() < 1e-9);
        assert_eq!(s.window, Duration::from_secs(60));
        let a = [(TARGET.to_string(), "50".to_string())].into();
        assert!((ScaleSettings::of(Some(&a), 10).target - 7.0).abs() < 1e-9);
    }
}
