//! Typed Istio `ServiceEntry` (networking.istio.io, v1alpha3 to v1), as
//! `ferry gateway serve` reads it: a Service whose endpoints are listed by
//! address, each with its own labels (DestinationRule subsets select on
//! them) and ports. Only `resolution: STATIC` with IP addresses is served;
//! the fields ferry accepts but does not act on are kept as raw JSON.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// `ServiceEntry.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Service names (`web`, `web.ns`, `web.ns.svc.cluster.local`); routes
    /// name them as destination hosts or backendRefs.
    pub hosts: Vec<String>,
    pub ports: Vec<ServiceEntryPort>,
    /// `STATIC` (the default here); `DNS` and `NONE` are not served.
    pub resolution: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<WorkloadEntry>,
    /// Accepted, not acted on.
    pub addresses: Option<Value>,
    pub location: Option<Value>,
    pub export_to: Option<Value>,
    pub subject_alt_names: Option<Value>,
    pub workload_selector: Option<Value>,
}

/// One port of a ServiceEntry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceEntryPort {
    pub number: u16,
    pub name: String,
    /// `HTTP`, `HTTP2`, `GRPC`… (HTTP/2 upstreams for `HTTP2` and `GRPC`).
    pub protocol: Option<String>,
    /// The endpoints' port when an endpoint does not name one.
    pub target_port: Option<u16>,
}

/// One endpoint (`WorkloadEntry` fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// An IP address.
    pub address: String,
    /// Port name → this endpoint's port.
    #[serde(default)]
    pub ports: BTreeMap<String, u16>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Accepted, not acted on.
    pub network: Option<Value>,
    pub locality: Option<Value>,
    pub weight: Option<Value>,
    pub service_account: Option<Value>,
}
