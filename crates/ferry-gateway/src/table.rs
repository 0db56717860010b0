//! The internal route table every source kind compiles into: virtual hosts
//! (north-south, by host pattern) and mesh routes (east-west, by Service),
//! each an ordered list of rules evaluated first-match, plus per-Service
//! destination policies from DestinationRules. Pure data; no IO.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_core::mesh::ServiceKey;
use regex::Regex;

/// A compiled routing configuration, swapped in atomically as a whole.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Virtual hosts for traffic entering the region.
    pub north: Vec<VirtualHost>,
    /// Rules for pod-to-service traffic, by destination Service.
    pub mesh: BTreeMap<ServiceKey, Vec<Rule>>,
    /// DestinationRule policies, by Service.
    pub policies: BTreeMap<ServiceKey, DestinationPolicy>,
    /// TLS Secrets for SNI, by host pattern.
    pub tls: Vec<TlsRef>,
    /// Canary `ferryFault`s: by the Deployment a canary pod belongs to, the
    /// delay added to a percent of that pod's calls to Services.
    pub canary_delays: BTreeMap<String, (Duration, f64)>,
    /// The canary splits the table was overlaid with (for the default
    /// rule of mesh Services without rules of their own).
    pub splits: BTreeMap<ServiceKey, ferry_core::traffic::Split>,
}

/// A TLS Secret serving a host pattern.
#[derive(Debug, Clone)]
pub struct TlsRef {
    pub host: HostPattern,
    pub namespace: String,
    pub secret: String,
    /// The object that asked for it.
    pub origin: String,
}

/// A host pattern: `*`, `*.example.com` or an exact name (lowercase).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostPattern {
    Exact(String),
    /// Suffix including the leading dot (`.example.com`).
    Wildcard(String),
    Any,
}

impl HostPattern {
    /// Parses `*`, `*.x` or a name.
    pub fn parse(s: &str) -> Self {
        let s = s.trim().to_ascii_lowercase();
        if s == "*" || s.is_empty() {
            HostPattern::Any
        } else if let Some(rest) = s.strip_prefix('*') {
            HostPattern::Wildcard(rest.to_string())
        } else {
            HostPattern::Exact(s)
        }
    }

    /// True when `host` (lowercase, port stripped) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Wildcard(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            HostPattern::Any => true,
        }
    }

    /// Higher is more specific: exact, then longer wildcards, then `*`.
    pub fn specificity(&self) -> usize {
        match self {
            HostPattern::Exact(_) => usize::MAX,
            HostPattern::Wildcard(s) => s.len() + 1,
            HostPattern::Any => 0,
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(s) => write!(f, "*{s}"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

/// A host and its rules, in evaluation order.
#[derive(Debug, Clone)]
pub struct VirtualHost {
    pub host: HostPattern,
    pub rules: Vec<Rule>,
}

/// One rule: match blocks ORed (empty = everything), then an action.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `Kind/namespace/name` plus the rule's index or name, for metrics/logs.
    pub name: String,
    pub matches: Vec<Match>,
    pub action: Action,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    pub cors: Option<Cors>,
    /// Ingress and HTTPRoute rules hand off to the destination Service's
    /// mesh rules, as an ingress controller inside the mesh would.
    pub chain_mesh: bool,
}

/// How a string is matched.
#[derive(Debug, Clone)]
pub enum StrMatch {
    Exact(String),
    Prefix(String),
    /// Anchored at both ends (RE2 full-match semantics).
    Regex(Regex),
    /// Present with any value (`{}` in Istio).
    Present,
}

impl StrMatch {
    /// True when `v` matches.
    pub fn matches(&self, v: &str) -> bool {
        match self {
            StrMatch::Exact(s) => s == v,
            StrMatch::Prefix(p) => v.starts_with(p.as_str()),
            StrMatch::Regex(r) => r.is_match(v),
            StrMatch::Present => true,
        }
    }
}

/// How the path is matched.
#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// Plain string prefix (Istio `uri.prefix`).
    Prefix(String),
    /// Element-wise prefix split on `/` (Ingress `Prefix`, Gateway API `PathPrefix`).
    Segments(String),
    Regex(Regex),
}

/// One match block; every present condition must hold.
#[derive(Debug, Clone, Default)]
pub struct Match {
    pub path: Option<PathMatch>,
    pub ignore_case: bool,
    pub method: Option<StrMatch>,
    pub authority: Option<StrMatch>,
    pub scheme: Option<StrMatch>,
    pub headers: Vec<(String, StrMatch)>,
    pub without_headers: Vec<(String, StrMatch)>,
    pub query: Vec<(String, StrMatch)>,
    pub port: Option<u16>,
    pub source_labels: BTreeMap<String, String>,
}

/// What a matched rule does.
#[derive(Debug, Clone)]
pub enum Action {
    Forward(Box<Forward>),
    Redirect(Redirect),
    Direct { status: u16, body: String },
}

/// Forwarding to weighted destinations with the route's policies.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    pub destinations: Vec<WeightedDestination>,
    pub mirrors: Vec<Mirror>,
    pub fault: Fault,
    pub retries: RetryPolicy,
    pub timeout: Option<Duration>,
    pub rewrite: Rewrite,
}

/// A backend Service (optionally a subset and port) with its weight.
#[derive(Debug, Clone)]
pub struct WeightedDestination {
    pub dest: Destination,
    pub weight: u32,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
}

/// A backend Service, subset and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub service: ServiceKey,
    pub subset: Option<String>,
    /// The Service port; `None` means the Service's only (or first) port.
    pub port: Option<u16>,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.service)?;
        if let Some(s) = &self.subset {
            write!(f, " subset {s}")?;
        }
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        Ok(())
    }
}

/// A mirror target and the share of requests copied to it (0–100).
#[derive(Debug, Clone)]
pub struct Mirror {
    pub dest: Destination,
    pub percent: f64,
}

/// Injected faults; each applies to its own share of requests.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    pub delay: Option<(Duration, f64)>,
    pub abort: Option<(u16, f64)>,
}

impl Fault {
    /// True when any fault is configured (Istio then disables retries and timeouts).
    pub fn is_set(&self) -> bool {
        self.delay.is_some() || self.abort.is_some()
    }
}

/// Retries: `attempts` retries after the first try.
#[derive(Debug, Clone, Default)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub per_try_timeout: Option<Duration>,
    pub on: RetryOn,
}

impl RetryPolicy {
    /// Istio's default for HTTP routes without a `retries` block: two
    /// retries on connect failure, reset or 503.
    pub fn istio_default() -> Self {
        Self {
            attempts: 2,
            per_try_timeout: None,
            on: RetryOn {
                connect_failure: true,
                reset: true,
                status_codes: vec![503],
                ..Default::default()
            },
        }
    }
}

/// Conditions (Envoy `x-envoy-retry-on` names) that allow a retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryOn {
    pub server_error: bool,
    pub gateway_error: bool,
    pub connect_failure: bool,
    pub reset: bool,
    pub retriable_4xx: bool,
    pub status_codes: Vec<u16>,
}

impl RetryOn {
    /// True when a response with `status` may be retried.
    pub fn status(&self, status: u16) -> bool {
        (self.server_error && status >= 500)
            || (self.gateway_error && matches!(status, 502..=504))
            || (self.retriable_4xx && status == 409)
            || self.status_codes.contains(&status)
    }
}

/// Path and authority rewrites before forwarding.
#[derive(Debug, Clone, Default)]
pub struct Rewrite {
    pub path: Option<PathRewrite>,
    pub authority: Option<String>,
}

/// How the path is rewritten.
#[derive(Debug, Clone)]
pub enum PathRewrite {
    /// Replaces the matched prefix (or the whole path for non-prefix matches).
    Prefix(String),
    Full(String),
    Regex(Regex, String),
}

/// An HTTP redirect answer.
#[derive(Debug, Clone, Default)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub authority: Option<String>,
    pub port: Option<u16>,
    pub path: Option<PathRewrite>,
    pub code: u16,
}

/// Header set/add/remove.
#[derive(Debug, Clone, Default)]
pub struct HeaderOps {
    pub set: Vec<(String, String)>,
    pub add: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl HeaderOps {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// CORS policy.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub origins: Vec<StrMatch>,
    pub methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<Duration>,
    pub credentials: bool,
}

// === destination policies ===

/// A DestinationRule compiled: the host-level policy and named subsets.
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    /// `DestinationRule/ns/name`.
    pub origin: String,
    pub policy: TrafficPolicy,
    pub subsets: BTreeMap<String, SubsetPolicy>,
}

/// A subset: label selector and its (merged) policy.
#[derive(Debug, Clone, Default)]
pub struct SubsetPolicy {
    pub labels: BTreeMap<String, String>,
    /// Label keys the subset's pods must not carry (a canary split's
    /// stable side: every pod without the canary label).
    pub absent: Vec<String>,
    pub policy: TrafficPolicy,
}

impl SubsetPolicy {
    /// True when a pod with `labels` is in the subset.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.absent.iter().all(|k| !labels.contains_key(k))
    }
}

/// Load balancing, connection limits and outlier detection.
#[derive(Debug, Clone, Default)]
pub struct TrafficPolicy {
    pub lb: LoadBalancer,
    pub max_connections: Option<u32>,
    pub max_pending: Option<u32>,
    pub max_requests: Option<u32>,
    pub connect_timeout: Option<Duration>,
    pub outlier: Option<OutlierPolicy>,
}

/// A load-balancing algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LoadBalancer {
    #[default]
    RoundRobin,
    LeastRequest,
    Random,
    HashHeader(String),
    HashCookie(String),
    HashQuery(String),
    HashSourceIp,
}

/// Outlier detection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierPolicy {
    pub consecutive_5xx: Option<u32>,
    pub consecutive_gateway: Option<u32>,
    pub interval: Duration,
    pub base_ejection: Duration,
    pub max_ejection_percent: u32,
}
