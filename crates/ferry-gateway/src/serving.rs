//! Knative routes in the gateway: the runtime's `ServingSnapshot`
//! (ferry-core `serving`) becomes virtual hosts of the route table — one
//! per Service host and tag host, forwarding to revision Services weighted
//! by traffic percent — merged after the routing objects are compiled
//! (an Ingress, HTTPRoute or VirtualService claiming the same host wins).
//! The revisions it names are the ones the activator guards.

use std::sync::Arc;

use ferry_core::serving::{ServingRoute, ServingSnapshot, SharedAutoscaler};
use ferry_core::sync::MutexExt;
use tokio::sync::watch;

use crate::Gateway;
use crate::proxy::Inner;
use crate::table::{
    Action, Destination, Forward, HostPattern, RouteTable, Rule, VirtualHost, WeightedDestination,
};

impl Gateway {
    /// Follows the runtime's Knative routes and pushes revision load to
    /// `autoscaler`. Must be called inside a tokio runtime.
    pub fn set_serving(
        &self,
        mut routes: watch::Receiver<ServingSnapshot>,
        autoscaler: SharedAutoscaler,
    ) {
        self.inner.activator.set_autoscaler(autoscaler);
        store(&self.inner, routes.borrow_and_update().clone());
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while routes.changed().await.is_ok() {
                let snap = routes.borrow_and_update().clone();
                let Some(inner) = weak.upgrade() else { break };
                store(&inner, snap);
            }
        });
    }

    /// The activator's metrics and counts.
    pub fn activator(&self) -> &crate::activator::Activator {
        &self.inner.activator
    }
}

/// Swaps in a new snapshot and the table with its hosts.
fn store(inner: &Inner, snap: ServingSnapshot) {
    let objects = inner.objects.lock_or_recover().clone();
    inner.activator.snapshot.store(Arc::new(snap));
    match crate::compile::compile(&objects) {
        Ok(mut table) => {
            merge(&mut table, &inner.activator.snapshot.load());
            inner.table.store(Arc::new(table));
        }
        Err(problems) => tracing::error!(%problems, "gateway kept its previous routing"),
    }
}

/// Adds the snapshot's hosts to a compiled table.
pub(crate) fn merge(table: &mut RouteTable, snap: &ServingSnapshot) {
    for r in &snap.routes {
        let host = HostPattern::Exact(r.host.to_ascii_lowercase());
        if table.north.iter().any(|v| v.host == host) {
            tracing::warn!(host = %r.host, origin = %r.origin, "a routing object already serves this host");
            continue;
        }
        table.north.push(VirtualHost {
            host,
            rules: vec![rule(r)],
        });
    }
    table
        .north
        .sort_by_key(|v| std::cmp::Reverse(v.host.specificity()));
}

/// Everything on the host to its revisions by percent.
fn rule(r: &ServingRoute) -> Rule {
    let destinations = r
        .targets
        .iter()
        .map(|t| WeightedDestination {
            dest: Destination {
                service: t.service.clone(),
                subset: None,
                port: None,
            },
            weight: t.percent,
            request_headers: Default::default(),
            response_headers: Default::default(),
        })
        .collect();
    Rule {
        name: r.origin.clone(),
        matches: vec![],
        action: Action::Forward(Box::new(Forward {
            destinations,
            ..Default::default()
        })),
        request_headers: Default::default(),
        response_headers: Default::default(),
        cors: None,
        chain_mesh: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::mesh::ServiceKey;
    use ferry_core::serving::ServingTarget;

    fn target(rev: &str, percent: u32) -> ServingTarget {
        ServingTarget {
            service: ServiceKey {
                namespace: "default".into(),
                name: rev.into(),
            },
            percent,
        }
    }

    #[test]
    fn hosts_join_the_table_by_specificity_and_objects_keep_theirs() {
        let mut table = RouteTable::default();
        for h in ["*", "taken.default.example.com"] {
            table.north.push(VirtualHost {
                host: HostPattern::parse(h),
                rules: vec![],
            });
        }
        let snap = ServingSnapshot {
            routes: vec![
                ServingRoute {
                    host: "hello.default.example.com".into(),
                    origin: "Route/default/hello".into(),
                    targets: vec![target("hello-00001", 90), target("hello-00002", 10)],
                },
                ServingRoute {
                    host: "taken.default.example.com".into(),
                    origin: "Route/default/taken".into(),
                    targets: vec![target("taken-00001", 100)],
                },
            ],
            revisions: Default::default(),
        };
        merge(&mut table, &snap);
        let hosts: Vec<String> = table.north.iter().map(|v| v.host.to_string()).collect();
        assert_eq!(
            hosts,
            [
                "taken.default.example.com",
                "hello.default.example.com",
                "*"
            ]
        );
        // The object's host kept its (empty) rules.
        assert!(table.north[0].rules.is_empty());
        let Action::Forward(f) = &table.north[1].rules[0].action else {
            panic!("forward expected");
        };
        let weights: Vec<(String, u32)> = f
            .destinations
            .iter()
            .map(|d| (d.dest.service.name.clone(), d.weight))
            .collect();
        assert_eq!(
            weights,
            [("hello-00001".into(), 90), ("hello-00002".into(), 10)]
        );
    }
}
