//! Compiles Istio specs, checking what Istio's validation checks (subsets
//! that exist, weights, percentages, regexes, durations):
//! `destination_rule` turns a DestinationRule into destination policies,
//! `virtual_service` turns a VirtualService into route-table rules, and
//! `parts` holds the route pieces they share.

mod destination_rule;
mod parts;
mod virtual_service;

pub use destination_rule::destination_rule;
pub use parts::parse_retry_on;
pub use virtual_service::{CompiledVs, virtual_service};
