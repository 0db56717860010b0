//! `ferry logs POD|TYPE/NAME [-c CONTAINER] [-f] [--previous] [--tail N]`.
//! For `job/NAME` it reads the Job's pod (selected by the Job's
//! `batch.kubernetes.io/controller-uid` label, as kubectl does).
//! For `deploy/NAME`, `rs/NAME`, `sts/NAME` or `svc/NAME` it picks a pod the way kubectl
//! does: the pods the object's selector matches, running and ready ones
//! first, then the most restarted, then the oldest; and says "Found N pods,
//! using pod/X" on stderr when there was a choice.

use std::cmp::Reverse;
use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::client::{Client, ServerArg, query_escape};
use crate::commands::BadInput;
use crate::commands::get::plural;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod (NAME or pod/NAME), or deploy/NAME, rs/NAME, sts/NAME, svc/NAME, job/NAME to use one of their pods
    pub pod: String,
    /// The container (default: the pod's first)
    #[arg(short, long)]
    pub container: Option<String>,
    /// Keep streaming new output
    #[arg(short, long)]
    pub follow: bool,
    /// The previous (terminated) instance of the container
    #[arg(short, long)]
    pub previous: bool,
    /// Only the last N lines
    #[arg(long)]
    pub tail: Option<usize>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Prints (or streams) the log.
pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server)?;
    let pod = pod_for(&client, &args.namespace, &args.pod)?;
    let mut q = format!(
        "/logs/{}/{pod}?follow={}&previous={}",
        args.namespace, args.follow, args.previous
    );
    if let Some(c) = &args.container {
        q.push_str(&format!("&container={c}"));
    }
    if let Some(t) = args.tail {
        q.push_str(&format!("&tail={t}"));
    }
    let mut resp = client.get_stream(&q)?;
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        let n = std::io::Read::read(&mut resp, &mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The pod `target` (`NAME`, `pod/NAME`, `deploy/NAME`...) names or
/// selects (shared with port-forward).
pub fn pod_for(client: &Client, ns: &str, target: &str) -> anyhow::Result<String> {
    let Some((kind, name)) = target.split_once('/') else {
        return Ok(target.to_string());
    };
    let kind = plural(kind)
        .filter(|k| {
            matches!(
                *k,
                "pods" | "deployments" | "replicasets" | "statefulsets" | "services" | "jobs"
            )
        })
        .ok_or_else(|| {
            BadInput(format!(
                "cannot get logs of `{kind}`: give a pod, deploy/NAME, rs/NAME, sts/NAME, svc/NAME or job/NAME"
            ))
        })?;
    if kind == "pods" {
        return Ok(name.to_string());
    }
    let obj: Value = client.get(&format!("/objects/{kind}/{ns}/{name}"))?;
    let selector = selector_of(&obj).ok_or_else(|| {
        BadInput(format!(
            "{kind}/{name} has no selector: no pods to read logs from"
        ))
    })?;
    let list: Value = client.get(&format!(
        "/objects/pods?namespace={}&labelSelector={}",
        query_escape(ns),
        query_escape(&selector)
    ))?;
    let pods = list["items"].as_array().cloned().unwrap_or_default();
    let chosen = first_pod(&pods)
        .ok_or_else(|| BadInput(format!("no pods of {kind}/{name} (selector {selector})")))?;
    if pods.len() > 1 {
        eprintln!("Found {} pods, using pod/{chosen}", pods.len());
    }
    Ok(chosen)
}

/// An object's pod selector in the `-l` form: a Service's `spec.selector`
/// map, or a workload's `spec.selector` matchLabels and matchExpressions.
pub fn selector_of(obj: &Value) -> Option<String> {
    if obj["kind"] == "Job" && obj.pointer("/spec/selector").is_none() {
        // Kubernetes' generated selector: the Job's own uid.
        let uid = obj.pointer("/metadata/uid")?.as_str()?;
        return Some(format!("batch.kubernetes.io/controller-uid={uid}"));
    }
    let sel = obj.pointer("/spec/selector")?;
    let labels = sel.get("matchLabels").unwrap_or(sel);
    let mut clauses: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        clauses.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    (!clauses.is_empty()).then(|| clauses.join(","))
}

/// kubectl's choice among a workload's pods (its `ByLogging` order):
/// running before unknown before pending, ready before not, more restarts
/// first, then the oldest. Pods being deleted come last.
pub fn first_pod(pods: &[Value]) -> Option<String> {
    let phase = |p: &Value| match p.pointer("/status/phase").and_then(Value::as_str) {
        Some("Running") => 0,
        Some("Unknown") => 1,
        Some("Pending") => 2,
        _ => 3,
    };
    let ready = |p: &Value| {
        p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    };
    let restarts = |p: &Value| -> i64 {
        p.pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["restartCount"].as_i64())
            .sum()
    };
    let text = |p: &Value, ptr: &str| {
        p.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    pods.iter()
        .min_by_key(|p| {
            (
                p.pointer("/metadata/deletionTimestamp").is_some(),
                phase(p),
                !ready(p),
                Reverse(restarts(p)),
                text(p, "/metadata/creationTimestamp"),
                text(p, "/metadata/name"),
            )
        })
        .map(|p| text(p, "/metadata/name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, phase: &str, ready: bool, restarts: i64, created: &str) -> Value {
        json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"restartCount": restarts}],
            }
        })
    }

    #[test]
    fn picks_running_ready_restarted_oldest() {
        let t1 = "2026-01-01T00:00:01Z";
        let t2 = "2026-01-01T00:00:02Z";
        let pending = pod("a", "Pending", false, 0, t1);
        let running = pod("b", "Running", false, 0, t1);
        let ready_new = pod("c", "Running", true, 0, t2);
        let ready_old = pod("d", "Running", true, 0, t1);
        let restarted = pod("e", "Running", true, 3, t2);
        assert_eq!(first_pod(&[pending.clone(), running.clone()]).unwrap(), "b");
        assert_eq!(
            first_pod(&[running.clone(), ready_new.clone()]).unwrap(),
            "c"
        );
        assert_eq!(
            first_pod(&[ready_new.clone(), ready_old.clone()]).unwrap(),
            "d"
        );
        assert_eq!(first_pod(&[ready_old, restarted, pending]).unwrap(), "e");
        assert_eq!(first_pod(&[]), None);
    }

    #[test]
    fn selectors_of_workloads_and_services() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}}});
        assert_eq!(selector_of(&d).unwrap(), "app=web,tier in (a,b),!canary");
        let svc = json!({"spec": {"selector": {"app": "web", "tier": "front"}}});
        assert_eq!(selector_of(&svc).unwrap(), "app=web,tier=front");
        assert_eq!(selector_of(&json!({"spec": {}})), None);
    }
}
