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
