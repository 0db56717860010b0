//! `ferry describe TYPE NAME`: the object's key fields, its status and
//! conditions, and the events that concern it.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::client::{Client, ServerArg, kind_and_name};
use crate::commands::get::{age, ns_path, pod_status};

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// TYPE (pod, deploy, svc...) or TYPE/NAME
    pub kind: String,
    pub name: Option<String>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Prints the description.
pub fn run(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let (kind, name) = kind_and_name(&args.kind, args.name.as_deref())?;
    let client = Client::new(&args.server)?;
    let obj: Value = client.get(&format!(
        "/objects/{kind}/{}/{name}",
        ns_path(&kind, &args.namespace)
    ))?;
    let k = obj["kind"].as_str().unwrap_or("?").to_string();
    println!("Name:         {name}");
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        println!("Namespace:    {ns}");
    }
    println!("Kind:         {k}");
    println!(
        "Created:      {} ago ({})",
        age(&obj),
        obj.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    for (title, map) in [
        ("Labels", "/metadata/labels"),
        ("Annotations", "/metadata/annotations"),
    ] {
        let pairs: Vec<String> = obj
            .pointer(map)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        println!(
            "{title}:{}{}",
            " ".repeat(13 - title.len() - 1),
            if pairs.is_empty() {
                "<none>".into()
            } else {
                pairs.join("\n              ")
            }
        );
    }
    let knative = obj["apiVersion"]
        .as_str()
        .is_some_and(|a| a.starts_with("serving.knative.dev/"));
    match k.as_str() {
        "Service" if knative => super::describe_knative::service(&client, &obj)?,
        "Revision" if knative => super::describe_knative::revision(&obj),
        "Pod" => {
            println!("Status:       {}", pod_status(&obj));
            println!(
                "IP:           {}",
                obj.pointer("/status/podIP")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            println!("Containers:");
            let statuses = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let cname = c["name"].as_str().unwrap_or("");
                println!("  {cname}:");
                println!("    Image:          {}", c["image"].as_str().unwrap_or(""));
                if let Some(st) = statuses.iter().find(|s| s["name"] == cname) {
                    let state = st["state"]
                        .as_object()
                        .and_then(|m| m.iter().next())
                        .map(|(k, v)| (k.clone(), v.clone()));
                    if let Some((state, detail)) = state {
                        println!(
                            "    State:          {}{}",
                            capitalize(&state),
                            detail["reason"]
                                .as_str()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        );
                        if let Some(m) = detail["message"].as_str().filter(|m| !m.is_empty()) {
                            println!("      Message:      {m}");
                        }
                        if let Some(code) = detail["exitCode"].as_i64() {
                            println!("      Exit Code:    {code}");
                        }
                    }
                    println!(
                        "    Ready:          {}",
                        st["ready"].as_bool().unwrap_or(false)
                    );
                    println!(
                        "    Restart Count:  {}",
                        st["restartCount"].as_i64().unwrap_or(0)
                    );
                }
            }
        }
        "Deployment" => {
            let want = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let st = |f: &str| {
                obj.pointer(&format!("/status/{f}"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            println!(
                "Replicas:     {want} desired | {} updated | {} total | {} available | {} unavailable",
                st("updatedReplicas"),
                st("replicas"),
                st("availableReplicas"),
                st("unavailableReplicas")
            );
            println!(
                "Strategy:     {}",
                obj.pointer("/spec/strategy/type")
                    .and_then(Value::as_str)
                    .unwrap_or("RollingUpdate")
            );
            super::describe_knative::conditions(&obj, 12, 6);
        }
        "Service" => {
            println!(
                "Type:         {}",
                obj.pointer("/spec/type")
                    .and_then(Value::as_str)
                    .unwrap_or("ClusterIP")
            );
            println!(
                "IP:           {}",
                obj.pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            for p in obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!(
                    "Port:         {} -> {}{}",
                    p["port"],
                    p.get("targetPort").unwrap_or(&p["port"]),
                    p.get("nodePort")
                        .map(|n| format!(" (host 127.0.0.1:{n})"))
                        .unwrap_or_default()
                );
            }
        }
        _ => {}
    }
    let q = format!(
        "/events?namespace={}&object={k}/{name}",
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let events: Value = client.get(&q)?;
    let events = events["items"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        println!("Events:       <none>");
    } else {
        println!("Events:");
        let rows: Vec<Vec<String>> = events
            .iter()
            .rev()
            .take(20)
            .rev()
            .map(|e| {
                ["type", "reason", "time", "message"]
                    .iter()
                    .map(|f| e[*f].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        for line in crate::output::table(&["TYPE", "REASON", "TIME", "MESSAGE"], &rows).lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
