//! Shared types for every ferry crate: Kubernetes-style object metadata,
//! label selectors, the topology kinds (`Region`, `Environment`), the strict
//! multi-document YAML loader that names file, document and field path in
//! every error, and the in-process event bus components publish to.
#![forbid(unsafe_code)]

pub mod app_spec;
pub mod cluster_spec;
pub mod error;
pub mod events;
pub mod labels;
pub mod mesh;
pub mod meta;
pub mod objects;
pub mod pod_load;
pub mod region_endpoints;
pub mod registry_spec;
pub mod replication_spec;
pub mod rollout_routes;
pub mod rollout_spec;
pub mod serving;
pub mod sync;
pub mod target_spec;
pub mod tls_spec;
pub mod topology;
pub mod traffic;
pub mod yaml;

pub use error::{Error, Problem, Problems};
pub use labels::LabelSelector;
pub use meta::{ObjectMeta, TypeMeta};

/// The API group and version of ferry's own kinds.
pub const API_VERSION: &str = "ferry.dev/v1alpha1";

/// Re-exported so every component registers into the same registry type.
pub use prometheus_client::registry::Registry as MetricsRegistry;
