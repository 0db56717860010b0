//! Compiles Kubernetes `Ingress` specs into host-keyed rules ordered by
//! Ingress precedence: longest path first, Exact before Prefix.

use ferry_core::error::Problem;

use super::Keyed;
use crate::config::Ctx;
use crate::config::k8s as api;
use crate::table::*;

fn forward_to(dests: Vec<WeightedDestination>) -> Action {
    Action::Forward(Box::new(Forward {
        destinations: dests,
        ..Default::default()
    }))
}

/// Compiles an Ingress.
pub fn ingress(ctx: &Ctx, spec: &api::IngressSpec, out: &mut Vec<Problem>) -> Vec<Keyed> {
    let mut rules = Vec::new();
    let backend = |path: &str,
                   b: &api::IngressBackend,
                   out: &mut Vec<Problem>|
     -> Option<WeightedDestination> {
        let Some(s) = &b.service else {
            out.push(ctx.problem(
                format!("{path}.service"),
                "only service backends are supported",
            ));
            return None;
        };
        if s.port.number.is_none() && s.port.name.is_none() {
            out.push(ctx.problem(
                format!("{path}.service.port"),
                "set port.number or port.name",
            ));
        }
        Some(WeightedDestination {
            dest: Destination {
                service: ctx.service(&s.name),
                subset: None,
                port: s.port.number,
            },
            weight: 1,
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
        })
    };
    for (i, r) in spec.rules.iter().enumerate() {
        let host = r
            .host
            .as_deref()
            .map_or(HostPattern::Any, HostPattern::parse);
        let Some(http) = &r.http else { continue };
        for (j, p) in http.paths.iter().enumerate() {
            let path = format!("spec.rules[{i}].http.paths[{j}]");
            let value = p.path.clone().unwrap_or_else(|| "/".into());
            if !value.starts_with('/') {
                out.push(ctx.problem(
                    format!("{path}.path"),
                    format!("path {value:?} must start with /"),
                ));
            }
            let (pm, exact) = match p.path_type.as_str() {
                "Exact" => (PathMatch::Exact(value.clone()), true),
                "Prefix" | "ImplementationSpecific" => (PathMatch::Segments(value.clone()), false),
                other => {
                    out.push(ctx.problem(
                        format!("{path}.pathType"),
                        format!("unknown pathType {other:?} (use Exact or Prefix)"),
                    ));
                    continue;
                }
            };
            let Some(dest) = backend(&format!("{path}.backend"), &p.backend, out) else {
                continue;
            };
            let claim = format!(
                "{}:{}",
                if exact { "exact" } else { "prefix" },
                value.trim_end_matches('/')
            );
            rules.push(Keyed {
                host: host.clone(),
                key: (
                    u8::from(!exact),
                    std::cmp::Reverse(value.len()),
                    0,
                    std::cmp::Reverse(0),
                    std::cmp::Reverse(0),
                    String::new(),
                    j,
                ),
                rule: Rule {
                    name: format!("{}/{i}.{j}", ctx.id()),
                    matches: vec![Match {
                        path: Some(pm),
                        ..Default::default()
                    }],
                    action: forward_to(vec![dest]),
                    request_headers: HeaderOps::default(),
                    response_headers: HeaderOps::default(),
                    cors: None,
                    chain_mesh: true,
                },
                claim: Some((claim, path)),
            });
        }
    }
    if let Some(b) = &spec.default_backend
        && let Some(dest) = backend("spec.defaultBackend", b, out)
    {
        rules.push(Keyed {
            host: HostPattern::Any,
            key: (
                9,
                std::cmp::Reverse(0),
                0,
                std::cmp::Reverse(0),
                std::cmp::Reverse(0),
                String::new(),
                0,
            ),
            rule: Rule {
                name: format!("{}/default", ctx.id()),
                matches: vec![],
                action: forward_to(vec![dest]),
                request_headers: HeaderOps::default(),
                response_headers: HeaderOps::default(),
                cors: None,
                chain_mesh: true,
            },
            claim: Some(("default-backend".into(), "spec.defaultBackend".into())),
        });
    }
    rules
}
