//! What a request leaves behind: its metrics (`requests_total` and the
//! rest, labelled by direction, route, destination and status; retries and
//! injected faults, which are rolled here) and, when someone listens to
//! `ferry::access`, one access-log event.

use std::time::{Duration, Instant};

use http::Method;
use http_body::Body as _;

use super::Inner;
use super::handler::Routed;
use super::types::ConnState;
use crate::metrics::{FaultLabels, RequestKey, RequestSample};
use crate::select;
use crate::table::Forward;

/// What the access log needs of the request besides what `Routed` says.
pub struct Seen<'a> {
    pub start: Instant,
    pub request_bytes: u64,
    /// Method and path, when the access log is listened to.
    pub logged: Option<(Method, String)>,
    pub authority: &'a str,
}

/// Records the request's metrics and, when someone listens, its access-log
/// event.
pub fn record(gw: &Inner, conn: &ConnState, routed: &Routed<'_>, seen: Seen<'_>) {
    let status = routed.response.status().as_u16();
    let elapsed = seen.start.elapsed();
    let resp_bytes = routed.response.body().size_hint().exact().unwrap_or(0);
    let (route, dest, retries) = (routed.route, routed.dest, routed.retries);
    let key = RequestKey {
        direction: conn.direction.name(),
        route,
        service: dest.map(|d| (d.service.name.as_str(), d.service.namespace.as_str())),
        subset: dest.and_then(|d| d.subset.as_deref()).unwrap_or(""),
        status,
    };
    gw.metrics.record_request(
        &key,
        RequestSample {
            seconds: elapsed.as_secs_f64(),
            request_bytes: seen.request_bytes,
            response_bytes: resp_bytes,
        },
    );
    if let Some(d) = dest
        && let Some(subset) = &d.subset
    {
        gw.splits
            .record(&d.service, subset, status, elapsed.as_secs_f64());
    }
    if retries > 0 {
        gw.metrics
            .retries
            .get_or_create(&key.labels())
            .inc_by(u64::from(retries));
    }
    if let Some((method, path)) = seen.logged {
        let service = key
            .service
            .map(|(n, ns)| format!("{n}.{ns}"))
            .unwrap_or_default();
        tracing::info!(
            target: "ferry::access",
            direction = conn.direction.name(),
            client = %conn.remote,
            method = %method,
            authority = %seen.authority,
            path = %path,
            status,
            route = %route,
            destination_service = %service,
            destination_subset = %key.subset,
            retries,
            request_bytes = seen.request_bytes,
            response_bytes = resp_bytes,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "access"
        );
    }
}

/// Counts an injected fault (`delay` or `abort`) of `route`.
pub fn count_fault(gw: &Inner, route: &str, fault: &str) {
    gw.metrics
        .faults
        .get_or_create(&FaultLabels {
            route: route.to_string(),
            fault: fault.to_string(),
        })
        .inc();
}

/// The injected delay, when the forward has one and this request is hit
/// (counted); else a canary `ferryFault`'s `canary` delay (counted).
pub(super) fn fault_delay(
    gw: &Inner,
    route: &str,
    fwd: &Forward,
    canary: Option<Duration>,
) -> Option<Duration> {
    let Some((delay, pct)) = fwd.fault.delay else {
        canary.inspect(|_| count_fault(gw, route, "canary_delay"))?;
        return canary;
    };
    select::hit(pct, fastrand::f64()).then(|| {
        count_fault(gw, route, "delay");
        delay
    })
}

/// The injected abort's status, when the forward has one and this request
/// is hit (counted).
pub(super) fn fault_abort(gw: &Inner, route: &str, fwd: &Forward) -> Option<u16> {
    let (status, pct) = fwd.fault.abort?;
    select::hit(pct, fastrand::f64()).then(|| {
        count_fault(gw, route, "abort");
        status
    })
}
