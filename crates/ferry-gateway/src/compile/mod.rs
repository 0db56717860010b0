//! Turns the whole set of gateway-owned objects into one [`RouteTable`], or
//! into every problem found (so an apply is rejected as a whole and the
//! previous table stays in force). Cross-object checks live here: subsets
//! must exist, and no two objects may claim the same host and path.

pub mod istio;
pub mod k8s;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_core::error::{Problem, Problems};
use ferry_core::mesh::ServiceKey;
use ferry_core::objects::StoredObject;

use crate::config::{self, Ctx, GATEWAY_API, ISTIO, NETWORKING};
use crate::table::{HostPattern, RouteTable, Rule, TlsRef, VirtualHost};

/// Compiles `objects` (the complete set) into a route table.
pub fn compile(objects: &[Arc<StoredObject>]) -> Result<RouteTable, Problems> {
    let mut out: Vec<Problem> = Vec::new();
    let by = |group: &str, kind: &str| {
        let mut v: Vec<&StoredObject> = objects
            .iter()
            .map(|o| o.as_ref())
            .filter(|o| o.group_kind.group == group && o.group_kind.kind == kind)
            .collect();
        v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        v
    };
    for o in objects {
        let gk = &o.group_kind;
        if !config::kinds().contains(gk) {
            out.push(Ctx::new(o).problem("kind", format!("{gk} is not a gateway kind")));
            continue;
        }
        let ctx = Ctx::new(o);
        let ok = match gk.group.as_str() {
            ISTIO => matches!(ctx.version(), "v1alpha3" | "v1beta1" | "v1"),
            GATEWAY_API => matches!(ctx.version(), "v1" | "v1beta1"),
            NETWORKING => ctx.version() == "v1",
            _ => false,
        };
        if !ok {
            out.push(ctx.problem(
                "apiVersion",
                format!("unsupported apiVersion {:?} for {}", ctx.version(), gk.kind),
            ));
        }
    }
    let mut table = RouteTable::default();

    // DestinationRules first: VirtualServices resolve subsets against them.
    for o in by(ISTIO, "DestinationRule") {
        let ctx = Ctx::new(o);
        let Ok(spec) = ctx
            .spec::<config::istio::DestinationRuleSpec>()
            .map_err(|p| out.push(p))
        else {
            continue;
        };
        let policy = istio::destination_rule(&ctx, &spec, &mut out);
        let key = ctx.service(&spec.host);
        if let Some(prev) = table.policies.get(&key) {
            out.push(ctx.problem(
                "spec.host",
                format!("{key} already has a DestinationRule ({})", prev.origin),
            ));
            continue;
        }
        table.policies.insert(key, policy);
    }

    // Istio Gateways: which hosts each serves.
    let mut gateways: BTreeMap<String, Vec<HostPattern>> = BTreeMap::new();
    for o in by(ISTIO, "Gateway") {
        let ctx = Ctx::new(o);
        let Ok(spec) = ctx
            .spec::<config::istio::GatewaySpec>()
            .map_err(|p| out.push(p))
        else {
            continue;
        };
        let mut hosts = Vec::new();
        for (i, s) in spec.servers.iter().enumerate() {
            if s.hosts.is_empty() {
                out.push(ctx.problem(
                    format!("spec.servers[{i}].hosts"),
                    "at least one host is required",
                ));
            }
            hosts.extend(
                s.hosts
                    .iter()
                    .map(|h| HostPattern::parse(h.rsplit('/').next().unwrap_or(h))),
            );
            if let Some(name) = s.tls.as_ref().and_then(|t| t.credential_name.as_ref()) {
                for h in &s.hosts {
                    let host = HostPattern::parse(h.rsplit('/').next().unwrap_or(h));
                    table.tls.push(TlsRef {
                        host,
                        namespace: ctx.namespace.clone(),
                        secret: name.clone(),
                        origin: ctx.id(),
                    });
                }
            }
        }
        gateways.insert(format!("{}/{}", ctx.namespace, o.name), hosts);
    }

    let mut claims = Claims::default();
    let mut north: BTreeMap<HostPattern, Vec<Rule>> = BTreeMap::new();
    for o in by(ISTIO, "VirtualService") {
        let ctx = Ctx::new(o);
        let Ok(spec) = ctx
            .spec::<config::istio::VirtualServiceSpec>()
            .map_err(|p| out.push(p))
        else {
            continue;
        };
        let compiled = istio::virtual_service(&ctx, &spec, &table.policies, &mut out);
        let mesh = spec.gateways.is_empty() || spec.gateways.iter().any(|g| g == "mesh");
        let bound: Vec<&Vec<HostPattern>> = spec
            .gateways
            .iter()
            .filter(|g| *g != "mesh")
            .filter_map(|g| {
                let full = if g.contains('/') {
                    g.clone()
                } else {
                    format!("{}/{g}", ctx.namespace)
                };
                gateways.get(&full)
            })
            .collect();
        for (i, h) in spec.hosts.iter().enumerate() {
            let pattern = HostPattern::parse(h);
            let served = bound.iter().any(|hosts| {
                hosts
                    .iter()
                    .any(|g| g == &pattern || matches_pattern(g, &pattern))
            });
            if served {
                for (claim, path) in &compiled.claims {
                    claims.claim(&ctx, &format!("host {h}"), claim, path, &mut out);
                }
                north
                    .entry(pattern.clone())
                    .or_default()
                    .extend(compiled.rules.iter().cloned());
            }
            if mesh && !matches!(pattern, HostPattern::Any | HostPattern::Wildcard(_)) {
                let key = ctx.service(h);
                for (claim, path) in &compiled.claims {
                    claims.claim(&ctx, &format!("mesh service {key}"), claim, path, &mut out);
                }
                let _ = i;
                table
                    .mesh
                    .entry(key)
                    .or_default()
                    .extend(compiled.rules.iter().cloned());
            }
        }
    }

    // Gateway API, then Ingress, each in its spec's precedence order.
    for (group, kind) in [(GATEWAY_API, "HTTPRoute"), (NETWORKING, "Ingress")] {
        let mut keyed = Vec::new();
        for o in by(group, kind) {
            let ctx = Ctx::new(o);
            let rules = if kind == "Ingress" {
                let Ok(spec) = ctx
                    .spec::<config::k8s::IngressSpec>()
                    .map_err(|p| out.push(p))
                else {
                    continue;
                };
                for t in &spec.tls {
                    let Some(secret) = &t.secret_name else {
                        continue;
                    };
                    for h in &t.hosts {
                        table.tls.push(TlsRef {
                            host: HostPattern::parse(h),
                            namespace: ctx.namespace.clone(),
                            secret: secret.clone(),
                            origin: ctx.id(),
                        });
                    }
                }
                k8s::ingress(&ctx, &spec, &mut out)
            } else {
                let Ok(spec) = ctx
                    .spec::<config::k8s::HttpRouteSpec>()
                    .map_err(|p| out.push(p))
                else {
                    continue;
                };
                k8s::http_route(&ctx, &spec, &mut out)
            };
            for k in &rules {
                if let Some((claim, path)) = &k.claim {
                    claims.claim(&ctx, &format!("host {}", k.host), claim, path, &mut out);
                }
            }
            keyed.extend(rules);
        }
        keyed.sort_by(|a, b| a.key.cmp(&b.key));
        for k in keyed {
            north.entry(k.host).or_default().push(k.rule);
        }
    }
    for o in by(GATEWAY_API, "Gateway") {
        let ctx = Ctx::new(o);
        let Ok(spec) = ctx
            .spec::<config::k8s::GatewayApiSpec>()
            .map_err(|p| out.push(p))
        else {
            continue;
        };
        for l in &spec.listeners {
            for r in l.tls.iter().flat_map(|t| t.certificate_refs.iter()) {
                let host = l
                    .hostname
                    .as_deref()
                    .map_or(HostPattern::Any, HostPattern::parse);
                let namespace = r.namespace.clone().unwrap_or_else(|| ctx.namespace.clone());
                table.tls.push(TlsRef {
                    host,
                    namespace,
                    secret: r.name.clone(),
                    origin: ctx.id(),
                });
            }
        }
    }

    if !out.is_empty() {
        return Err(Problems(out));
    }
    let mut hosts: Vec<VirtualHost> = north
        .into_iter()
        .map(|(host, rules)| VirtualHost { host, rules })
        .collect();
    hosts.sort_by_key(|v| std::cmp::Reverse(v.host.specificity()));
    table.north = hosts;
    Ok(table)
}

/// True when gateway host pattern `g` admits VirtualService host `h`.
fn matches_pattern(g: &HostPattern, h: &HostPattern) -> bool {
    match (g, h) {
        (HostPattern::Any, _) => true,
        (HostPattern::Wildcard(_), HostPattern::Exact(name)) => g.matches(name),
        (HostPattern::Wildcard(a), HostPattern::Wildcard(b)) => b.ends_with(a.as_str()),
        _ => false,
    }
}

/// Who claimed each (host, path) so far.
#[derive(Debug, Default)]
struct Claims(BTreeMap<(String, String), (String, String)>);

impl Claims {
    fn claim(&mut self, ctx: &Ctx, host: &str, claim: &str, path: &str, out: &mut Vec<Problem>) {
        let id = ctx.id();
        match self.0.get(&(host.to_string(), claim.to_string())) {
            Some((owner, owner_path)) if *owner != id => out.push(ctx.problem(
                path,
                format!("{host} path {claim} is already routed by {owner} (field {owner_path}); remove one of them"),
            )),
            Some(_) => {}
            None => {
                self.0.insert((host.to_string(), claim.to_string()), (id, path.to_string()));
            }
        }
    }
}

/// Every Service the table sends traffic to (for `get routes`).
pub fn services(table: &RouteTable) -> Vec<ServiceKey> {
    let mut v: Vec<ServiceKey> = table.mesh.keys().cloned().collect();
    v.sort();
    v
}
