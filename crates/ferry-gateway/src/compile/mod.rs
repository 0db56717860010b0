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
    let mut c = Compiler::new(objects);
    c.check_kinds();
    // DestinationRules first: VirtualServices resolve subsets against them.
    c.destination_rules();
    let gateways = c.istio_gateways();
    c.virtual_services(&gateways);
    // Gateway API, then Ingress, each in its spec's precedence order.
    c.k8s_routes(GATEWAY_API, "HTTPRoute");
    c.k8s_routes(NETWORKING, "Ingress");
    c.gateway_api_certificates();
    c.finish()
}

/// The hosts each Istio Gateway (`namespace/name`) serves.
type Gateways = BTreeMap<String, Vec<HostPattern>>;

/// One compilation: the table being built and every problem found so far
/// (in a fixed order: kinds, DestinationRules, Istio Gateways,
/// VirtualServices, HTTPRoutes, Ingresses, Gateway API Gateways).
struct Compiler<'o> {
    objects: &'o [Arc<StoredObject>],
    out: Vec<Problem>,
    table: RouteTable,
    claims: Claims,
    /// North-south rules per host, in precedence order.
    north: BTreeMap<HostPattern, Vec<Rule>>,
}

impl<'o> Compiler<'o> {
    fn new(objects: &'o [Arc<StoredObject>]) -> Self {
        Self {
            objects,
            out: Vec::new(),
            table: RouteTable::default(),
            claims: Claims::default(),
            north: BTreeMap::new(),
        }
    }

    /// The objects of one kind, by namespace and name.
    fn of_kind(&self, group: &str, kind: &str) -> Vec<&'o StoredObject> {
        let mut v: Vec<&StoredObject> = self
            .objects
            .iter()
            .map(|o| o.as_ref())
            .filter(|o| o.group_kind.group == group && o.group_kind.kind == kind)
            .collect();
        v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        v
    }

    /// An object's spec, or None with its problem recorded.
    fn spec<T: serde::de::DeserializeOwned>(&mut self, ctx: &Ctx) -> Option<T> {
        ctx.spec::<T>().map_err(|p| self.out.push(p)).ok()
    }

    /// Every object is of a gateway kind, at a supported apiVersion.
    fn check_kinds(&mut self) {
        for o in self.objects {
            let gk = &o.group_kind;
            if !config::kinds().contains(gk) {
                let p = Ctx::new(o).problem("kind", format!("{gk} is not a gateway kind"));
                self.out.push(p);
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
                self.out.push(ctx.problem(
                    "apiVersion",
                    format!("unsupported apiVersion {:?} for {}", ctx.version(), gk.kind),
                ));
            }
        }
    }

    /// DestinationRules into the table's policies, one per Service.
    fn destination_rules(&mut self) {
        for o in self.of_kind(ISTIO, "DestinationRule") {
            let ctx = Ctx::new(o);
            let Some(spec) = self.spec::<config::istio::DestinationRuleSpec>(&ctx) else {
                continue;
            };
            let policy = istio::destination_rule(&ctx, &spec, &mut self.out);
            let key = ctx.service(&spec.host);
            if let Some(prev) = self.table.policies.get(&key) {
                self.out.push(ctx.problem(
                    "spec.host",
                    format!("{key} already has a DestinationRule ({})", prev.origin),
                ));
                continue;
            }
            self.table.policies.insert(key, policy);
        }
    }

    /// Istio Gateways: which hosts each serves (and their TLS Secrets).
    fn istio_gateways(&mut self) -> Gateways {
        let mut gateways = Gateways::new();
        for o in self.of_kind(ISTIO, "Gateway") {
            let ctx = Ctx::new(o);
            let Some(spec) = self.spec::<config::istio::GatewaySpec>(&ctx) else {
                continue;
            };
            let mut hosts = Vec::new();
            for (i, s) in spec.servers.iter().enumerate() {
                if s.hosts.is_empty() {
                    self.out.push(ctx.problem(
                        format!("spec.servers[{i}].hosts"),
                        "at least one host is required",
                    ));
                }
                hosts.extend(s.hosts.iter().map(|h| gateway_host(h)));
                if let Some(name) = s.tls.as_ref().and_then(|t| t.credential_name.as_ref()) {
                    for h in &s.hosts {
                        self.tls(&ctx, gateway_host(h), ctx.namespace.clone(), name);
                    }
                }
            }
            gateways.insert(format!("{}/{}", ctx.namespace, o.name), hosts);
        }
        gateways
    }

    /// VirtualServices: their rules under each host a bound Gateway serves
    /// (north-south) and each Service they name (mesh).
    fn virtual_services(&mut self, gateways: &Gateways) {
        for o in self.of_kind(ISTIO, "VirtualService") {
            let ctx = Ctx::new(o);
            let Some(spec) = self.spec::<config::istio::VirtualServiceSpec>(&ctx) else {
                continue;
            };
            let compiled = istio::virtual_service(&ctx, &spec, &self.table.policies, &mut self.out);
            let mesh = spec.gateways.is_empty() || spec.gateways.iter().any(|g| g == "mesh");
            let bound = bound_gateways(&ctx, &spec.gateways, gateways);
            for h in &spec.hosts {
                let pattern = HostPattern::parse(h);
                let served = bound.iter().any(|hosts| {
                    hosts
                        .iter()
                        .any(|g| g == &pattern || matches_pattern(g, &pattern))
                });
                if served {
                    self.claim_all(&ctx, &format!("host {h}"), &compiled.claims);
                    self.north
                        .entry(pattern.clone())
                        .or_default()
                        .extend(compiled.rules.iter().cloned());
                }
                if mesh && !matches!(pattern, HostPattern::Any | HostPattern::Wildcard(_)) {
                    let key = ctx.service(h);
                    self.claim_all(&ctx, &format!("mesh service {key}"), &compiled.claims);
                    self.table
                        .mesh
                        .entry(key)
                        .or_default()
                        .extend(compiled.rules.iter().cloned());
                }
            }
        }
    }

    /// Claims every `(path key, field path)` of `claims` under `host`.
    fn claim_all(&mut self, ctx: &Ctx, host: &str, claims: &[(String, String)]) {
        for (claim, path) in claims {
            self.claims.claim(ctx, host, claim, path, &mut self.out);
        }
    }

    /// HTTPRoutes or Ingresses (`kind`), their rules in the spec's
    /// precedence order after the rules already there.
    fn k8s_routes(&mut self, group: &str, kind: &str) {
        let mut keyed = Vec::new();
        for o in self.of_kind(group, kind) {
            let ctx = Ctx::new(o);
            let rules = if kind == "Ingress" {
                let Some(spec) = self.spec::<config::k8s::IngressSpec>(&ctx) else {
                    continue;
                };
                for t in &spec.tls {
                    let Some(secret) = &t.secret_name else {
                        continue;
                    };
                    for h in &t.hosts {
                        self.tls(&ctx, HostPattern::parse(h), ctx.namespace.clone(), secret);
                    }
                }
                k8s::ingress(&ctx, &spec, &mut self.out)
            } else {
                let Some(spec) = self.spec::<config::k8s::HttpRouteSpec>(&ctx) else {
                    continue;
                };
                k8s::http_route(&ctx, &spec, &mut self.out)
            };
            for k in &rules {
                if let Some((claim, path)) = &k.claim {
                    let host = format!("host {}", k.host);
                    self.claims.claim(&ctx, &host, claim, path, &mut self.out);
                }
            }
            keyed.extend(rules);
        }
        keyed.sort_by(|a, b| a.key.cmp(&b.key));
        for k in keyed {
            self.north.entry(k.host).or_default().push(k.rule);
        }
    }

    /// Gateway API Gateways: the certificates of their TLS listeners.
    fn gateway_api_certificates(&mut self) {
        for o in self.of_kind(GATEWAY_API, "Gateway") {
            let ctx = Ctx::new(o);
            let Some(spec) = self.spec::<config::k8s::GatewayApiSpec>(&ctx) else {
                continue;
            };
            for l in &spec.listeners {
                for r in l.tls.iter().flat_map(|t| t.certificate_refs.iter()) {
                    let host = l
                        .hostname
                        .as_deref()
                        .map_or(HostPattern::Any, HostPattern::parse);
                    let namespace = r.namespace.clone().unwrap_or_else(|| ctx.namespace.clone());
                    self.tls(&ctx, host, namespace, &r.name);
                }
            }
        }
    }

    /// Records that `host` is served with the certificate of Secret
    /// `namespace/secret`, as `ctx`'s object says.
    fn tls(&mut self, ctx: &Ctx, host: HostPattern, namespace: String, secret: &str) {
        self.table.tls.push(TlsRef {
            host,
            namespace,
            secret: secret.to_string(),
            origin: ctx.id(),
        });
    }

    /// The table, its virtual hosts most specific first; or every problem.
    fn finish(self) -> Result<RouteTable, Problems> {
        if !self.out.is_empty() {
            return Err(Problems(self.out));
        }
        let mut table = self.table;
        let mut hosts: Vec<VirtualHost> = self
            .north
            .into_iter()
            .map(|(host, rules)| VirtualHost { host, rules })
            .collect();
        hosts.sort_by_key(|v| std::cmp::Reverse(v.host.specificity()));
        table.north = hosts;
        Ok(table)
    }
}

/// An Istio Gateway server's host (`namespace/host` or `host`) as a pattern.
fn gateway_host(h: &str) -> HostPattern {
    HostPattern::parse(h.rsplit('/').next().unwrap_or(h))
}

/// The hosts of the Istio Gateways a VirtualService binds (`mesh` aside;
/// names without a namespace are in the VirtualService's).
fn bound_gateways<'g>(
    ctx: &Ctx,
    names: &[String],
    gateways: &'g Gateways,
) -> Vec<&'g Vec<HostPattern>> {
    names
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
        .collect()
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
