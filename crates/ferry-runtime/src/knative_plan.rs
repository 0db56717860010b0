//! The Knative Service controller's decisions, pure: as Knative's Service →
//! Configuration → Revision chain, a template that differs from the latest
//! Revision's makes Revision `<name>-<generation, 5 digits>` (or the
//! template's own `metadata.name`); the Route resolves `traffic` (none: 100 %
//! to the latest ready Revision) into hosts — `<name>.<ns>.<domain>` split
//! by percent and `<tag>-<name>.<ns>.<domain>` per tag — over each
//! Revision's Service; and the Service's status (`url`, `address`,
//! `latestCreatedRevisionName`, `latestReadyRevisionName`, `traffic`,
//! conditions `ConfigurationsReady`, `RoutesReady`, `Ready`).

use ferry_core::mesh::ServiceKey;
use ferry_core::serving::{ServingRoute, ServingTarget};
use serde_json::{Value, json};

use crate::knative_spec::{KService, TrafficTarget};

/// A Revision of the Service as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionInfo {
    pub name: String,
    /// `serving.knative.dev/configurationGeneration`.
    pub generation: i64,
    /// The hash of the template it was made from.
    pub hash: String,
    /// Whether it ever had a ready pod (Knative's Revision `Ready`).
    pub ready: bool,
}

/// What the controller should do for one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// A Revision to create: name and configuration generation.
    pub create: Option<(String, i64)>,
    pub latest_created: String,
    pub latest_ready: Option<String>,
    /// Hosts to serve; empty while the traffic cannot be resolved.
    pub routes: Vec<ServingRoute>,
    /// `status` of the Service, without condition times.
    pub status: Value,
}

/// One resolved traffic target.
#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    revision: String,
    percent: u32,
    tag: Option<String>,
    latest: bool,
}

/// Decides for `svc` in `ns`, whose template hashes to `hash`, given its
/// Revisions (any order).
pub fn plan(svc: &KService, ns: &str, hash: &str, revs: &[RevisionInfo], domain: &str) -> Plan {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let newest = revs.iter().max_by_key(|r| r.generation);
    let create = match newest {
        Some(r) if r.hash == hash => None,
        _ => {
            let generation = newest.map_or(1, |r| r.generation + 1);
            let rev = svc.spec.template.metadata.name.clone();
            Some((
                rev.unwrap_or_else(|| format!("{name}-{generation:05}")),
                generation,
            ))
        }
    };
    let latest_created = match (&create, newest) {
        (Some((n, _)), _) => n.clone(),
        (None, Some(r)) => r.name.clone(),
        (None, None) => unreachable!("no revision means one is created"),
    };
    let latest_ready = revs
        .iter()
        .filter(|r| r.ready)
        .max_by_key(|r| r.generation)
        .map(|r| r.name.clone());
    let traffic = resolve(
        &svc.spec.traffic,
        revs,
        latest_ready.as_deref(),
        &latest_created,
    );
    let host = format!("{name}.{ns}.{domain}");
    let (routes, routes_ready) = match &traffic {
        Ok(t) => (
            routes(t, &name, ns, domain),
            t.iter().all(|x| ready(revs, &x.revision)),
        ),
        Err(_) => (vec![], false),
    };
    let config_ready = latest_ready.as_deref() == Some(latest_created.as_str());
    let route_cond = match &traffic {
        Err(m) => cond("RoutesReady", "False", "RevisionMissing", m),
        Ok(_) if !routes_ready => cond(
            "RoutesReady",
            "Unknown",
            "RevisionMissing",
            "a traffic target's revision is not ready yet",
        ),
        Ok(_) => cond("RoutesReady", "True", "", ""),
    };
    let config_cond = match config_ready {
        true => cond("ConfigurationsReady", "True", "", ""),
        false => cond(
            "ConfigurationsReady",
            "Unknown",
            "RevisionMissing",
            &format!("Configuration \"{name}\" is waiting for a Revision to become ready."),
        ),
    };
    let all = config_ready && routes_ready;
    let ready_cond = match all {
        true => cond("Ready", "True", "", ""),
        false => cond(
            "Ready",
            "Unknown",
            "RevisionMissing",
            "waiting for the latest revision and the route",
        ),
    };
    let status = json!({
        "observedGeneration": svc.metadata.generation.unwrap_or(1),
        "url": format!("http://{host}"),
        "address": {"url": format!("http://{name}.{ns}.svc.cluster.local")},
        "latestCreatedRevisionName": latest_created,
        "latestReadyRevisionName": latest_ready,
        "traffic": traffic.as_deref().unwrap_or_default().iter().map(|t| status_target(t, &name, ns, domain)).collect::<Vec<_>>(),
        "conditions": [config_cond, ready_cond, route_cond],
    });
    Plan {
        create,
        latest_created,
        latest_ready,
        routes,
        status,
    }
}

/// `spec.traffic` with revisions named; an error names a missing revision.
fn resolve(
    spec: &[TrafficTarget],
    revs: &[RevisionInfo],
    latest_ready: Option<&str>,
    latest_created: &str,
) -> Result<Vec<Resolved>, String> {
    // Before any revision is ready, route to the newest so the activator
    // holds its requests while it starts.
    let latest = latest_ready.unwrap_or(latest_created);
    if spec.is_empty() {
        return Ok(vec![Resolved {
            revision: latest.to_string(),
            percent: 100,
            tag: None,
            latest: true,
        }]);
    }
    spec.iter()
        .map(|t| {
            let revision = match (&t.revision_name, t.latest_revision) {
                (Some(r), _) if revs.iter().any(|x| &x.name == r) || r == latest_created => {
                    r.clone()
                }
                (Some(r), _) => {
                    return Err(format!("Revision \"{r}\" referenced in traffic not found."));
                }
                (None, _) => latest.to_string(),
            };
            Ok(Resolved {
                revision,
                percent: t.percent.unwrap_or(0).clamp(0, 100) as u32,
                tag: t.tag.clone(),
                latest: t.revision_name.is_none(),
            })
        })
        .collect()
}

fn ready(revs: &[RevisionInfo], name: &str) -> bool {
    revs.iter().any(|r| r.name == name && r.ready)
}

/// The hosts: the Service's own, split by percent (targets naming the same
/// revision merged), and one per tag sending everything to its revision.
fn routes(traffic: &[Resolved], name: &str, ns: &str, domain: &str) -> Vec<ServingRoute> {
    let key = |rev: &str| ServiceKey {
        namespace: ns.to_string(),
        name: rev.to_string(),
    };
    let mut split: Vec<ServingTarget> = Vec::new();
    for t in traffic.iter().filter(|t| t.percent > 0) {
        match split.iter_mut().find(|s| s.service.name == t.revision) {
            Some(s) => s.percent += t.percent,
            None => split.push(ServingTarget {
                service: key(&t.revision),
                percent: t.percent,
            }),
        }
    }
    let mut out = vec![ServingRoute {
        host: format!("{name}.{ns}.{domain}"),
        origin: format!("Route/{ns}/{name}"),
        targets: split,
    }];
    for t in traffic {
        if let Some(tag) = &t.tag {
            out.push(ServingRoute {
                host: format!("{tag}-{name}.{ns}.{domain}"),
                origin: format!("Route/{ns}/{name} tag {tag}"),
                targets: vec![ServingTarget {
                    service: key(&t.revision),
                    percent: 100,
                }],
            });
        }
    }
    out
}

fn status_target(t: &Resolved, name: &str, ns: &str, domain: &str) -> Value {
    let mut v =
        json!({"revisionName": t.revision, "percent": t.percent, "latestRevision": t.latest});
    if let Some(tag) = &t.tag {
        v["tag"] = json!(tag);
        v["url"] = json!(format!("http://{tag}-{name}.{ns}.{domain}"));
    }
    v
}

/// A condition without its transition time.
pub fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": type_, "status": status});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

#[cfg(test)]
#[path = "knative_plan_tests.rs"]
mod tests;
