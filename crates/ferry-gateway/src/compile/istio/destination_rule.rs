//! Compiles Istio `DestinationRule` specs into per-Service destination
//! policies: subsets by labels, load balancer, connection-pool limits and
//! outlier detection, each subset inheriting the rule's top-level policy.

use std::collections::BTreeMap;

use ferry_core::error::Problem;

use crate::config::istio as api;
use crate::config::{Ctx, parse_duration};
use crate::table::*;

/// Compiles a DestinationRule.
pub fn destination_rule(
    ctx: &Ctx,
    spec: &api::DestinationRuleSpec,
    out: &mut Vec<Problem>,
) -> DestinationPolicy {
    let base = traffic_policy(
        ctx,
        "spec.trafficPolicy",
        spec.traffic_policy.as_ref(),
        &TrafficPolicy::default(),
        out,
    );
    let mut subsets = BTreeMap::new();
    for (i, s) in spec.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        let policy = traffic_policy(
            ctx,
            &format!("{path}.trafficPolicy"),
            s.traffic_policy.as_ref(),
            &base,
            out,
        );
        if subsets
            .insert(
                s.name.clone(),
                SubsetPolicy {
                    labels: s.labels.clone(),
                    absent: Vec::new(),
                    policy,
                },
            )
            .is_some()
        {
            out.push(ctx.problem(
                format!("{path}.name"),
                format!("duplicate subset name {:?}", s.name),
            ));
        }
    }
    DestinationPolicy {
        origin: ctx.id(),
        policy: base,
        subsets,
    }
}

fn traffic_policy(
    ctx: &Ctx,
    path: &str,
    p: Option<&api::TrafficPolicy>,
    parent: &TrafficPolicy,
    out: &mut Vec<Problem>,
) -> TrafficPolicy {
    let mut tp = parent.clone();
    let Some(p) = p else { return tp };
    let dur = |field: &str, v: &Option<String>, out: &mut Vec<Problem>| {
        v.as_ref().and_then(|s| {
            parse_duration(s)
                .map_err(|e| out.push(ctx.problem(format!("{path}.{field}"), e.to_string())))
                .ok()
        })
    };
    if let Some(lb) = &p.load_balancer {
        tp.lb = match (&lb.simple, &lb.consistent_hash) {
            (Some(_), Some(_)) => {
                out.push(ctx.problem(
                    format!("{path}.loadBalancer"),
                    "set either simple or consistentHash, not both",
                ));
                LoadBalancer::RoundRobin
            }
            (Some(s), None) => match s.as_str() {
                "ROUND_ROBIN" | "UNSPECIFIED" | "PASSTHROUGH" => LoadBalancer::RoundRobin,
                "LEAST_REQUEST" | "LEAST_CONN" => LoadBalancer::LeastRequest,
                "RANDOM" => LoadBalancer::Random,
                other => {
                    out.push(ctx.problem(
                        format!("{path}.loadBalancer.simple"),
                        format!("unknown load balancer {other:?} (use ROUND_ROBIN, LEAST_REQUEST or RANDOM)"),
                    ));
                    LoadBalancer::RoundRobin
                }
            },
            (None, Some(h)) => {
                if let Some(name) = &h.http_header_name {
                    LoadBalancer::HashHeader(name.to_ascii_lowercase())
                } else if let Some(c) = &h.http_cookie {
                    LoadBalancer::HashCookie(c.name.clone())
                } else if let Some(q) = &h.http_query_parameter_name {
                    LoadBalancer::HashQuery(q.clone())
                } else if h.use_source_ip == Some(true) {
                    LoadBalancer::HashSourceIp
                } else {
                    out.push(ctx.problem(
                        format!("{path}.loadBalancer.consistentHash"),
                        "name a hash key: httpHeaderName, httpCookie, httpQueryParameterName or useSourceIp",
                    ));
                    LoadBalancer::RoundRobin
                }
            }
            (None, None) => tp.lb.clone(),
        };
    }
    if let Some(cp) = &p.connection_pool {
        if let Some(tcp) = &cp.tcp {
            tp.max_connections = tcp.max_connections.or(tp.max_connections);
            tp.connect_timeout = dur(
                "connectionPool.tcp.connectTimeout",
                &tcp.connect_timeout,
                out,
            )
            .or(tp.connect_timeout);
        }
        if let Some(http) = &cp.http {
            tp.max_pending = http.http1_max_pending_requests.or(tp.max_pending);
            tp.max_requests = http.http2_max_requests.or(tp.max_requests);
        }
    }
    if let Some(od) = &p.outlier_detection {
        let interval = dur("outlierDetection.interval", &od.interval, out)
            .unwrap_or(std::time::Duration::from_secs(10));
        let base_ejection = dur(
            "outlierDetection.baseEjectionTime",
            &od.base_ejection_time,
            out,
        )
        .unwrap_or(std::time::Duration::from_secs(30));
        let max = od.max_ejection_percent.unwrap_or(10);
        if max > 100 {
            out.push(ctx.problem(
                format!("{path}.outlierDetection.maxEjectionPercent"),
                "must be between 0 and 100",
            ));
        }
        let gateway = od.consecutive_gateway_errors.or(od.consecutive_errors);
        tp.outlier = Some(OutlierPolicy {
            // Istio: consecutive5xxErrors defaults to 5 unless set (0 disables).
            consecutive_5xx: match od.consecutive5xx_errors {
                Some(0) => None,
                Some(n) => Some(n),
                None if gateway.is_some() => None,
                None => Some(5),
            },
            consecutive_gateway: gateway.filter(|n| *n > 0),
            interval,
            base_ejection,
            max_ejection_percent: max.min(100),
        });
    }
    tp
}
