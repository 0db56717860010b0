//! Compiles Kubernetes `Ingress` and Gateway API `HTTPRoute` specs into
//! host-keyed rules, ordered by each spec's precedence (Ingress: longest
//! path, Exact before Prefix; Gateway API: Exact, longest prefix, method,
//! most headers, most query params, oldest route, name, rule order).

mod http_route;
mod ingress;

pub use http_route::http_route;
pub use ingress::ingress;

use crate::table::*;

/// A compiled rule with the host it serves and its precedence key.
#[derive(Debug)]
pub struct Keyed {
    pub host: HostPattern,
    pub key: (
        u8,
        std::cmp::Reverse<usize>,
        u8,
        std::cmp::Reverse<usize>,
        std::cmp::Reverse<usize>,
        String,
        usize,
    ),
    pub rule: Rule,
    /// `(claim, field path)` for conflict checks.
    pub claim: Option<(String, String)>,
}
