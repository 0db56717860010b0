//! ferry's gateway: routes HTTP entering a region (Ingress, Gateway API
//! `Gateway`/`HTTPRoute`, Istio `Gateway`/`VirtualService`/`DestinationRule`)
//! and between pods (VirtualServices bound to `mesh`), with Istio's traffic
//! semantics: first-match rules, weights, subsets, faults, mirrors, retries,
//! timeouts, rewrites, redirects, CORS, load balancing, outlier detection.
//!
//! Layers: `config` (typed specs) → `compile` (one [`table::RouteTable`],
//! validated as a whole) → `select`/`lb` (pure matching and endpoint
//! choice) → `proxy` (hyper IO). `files` loads routes and ServiceEntries from
//! manifest files for `ferry gateway serve`; `owner` plugs the kinds into the runtime's
//! object store; `routes` explains the table for `ferry get routes`.
#![forbid(unsafe_code)]

pub mod activator;
pub mod canary;
pub mod canary_routes;
pub mod compile;
pub mod config;
pub mod files;
pub mod lb;
pub mod metrics;
pub mod owner;
pub mod pod_requests;
pub mod proxy;
pub mod routes;
pub mod select;
pub mod serving;
pub mod table;
pub mod tls;

pub use proxy::{Gateway, GatewayConfig, HostDialer};

/// Errors of the gateway crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The proposed routing objects are invalid; each problem names its object and field.
    #[error("{0}")]
    Invalid(ferry_core::error::Problems),
    /// The routes API could not be reached or answered badly.
    #[error("routes api: {0}")]
    Api(String),
    /// A duration field does not parse.
    #[error("invalid duration {value:?} (use forms like 5s, 250ms, 1m30s)")]
    Duration { value: String },
    /// A regex field does not compile (RE2 syntax, matched against the whole value).
    #[error("invalid regex {pattern:?}: {reason}")]
    Regex {
        pattern: String,
        reason: Box<regex::Error>,
    },
    /// A `retryOn` entry names no condition ferry knows.
    #[error(
        "unknown retry condition {condition:?} (use 5xx, gateway-error, connect-failure, reset or a status code)"
    )]
    RetryOn { condition: String },
    /// A TLS Secret's `tls.crt`/`tls.key` cannot be used.
    #[error(
        "{field}: {reason} (put a PEM certificate chain in tls.crt and its PEM private key in tls.key)"
    )]
    TlsSecret { field: &'static str, reason: String },
}
