//! `ferry get pods|deploy|rs|svc|cm|secrets|ns|all [NAME] [-n NS|-A] [-l SELECTOR] [-w] [-o wide|yaml|json]`
//! and `ferry get TYPE/NAME...`: kubectl-like tables of the runtime's
//! objects with live pod status. `-l` filters on the server (the list
//! route's `labelSelector`); `-w` prints the table, then polls the list
//! every second and prints each row that changed (AGE aside), as kubectl's
//! watch does, until interrupted.

use std::process::ExitCode;

use clap::Args;
use ferry_core::labels::LabelSelector;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg, query_escape};
use crate::commands::BadInput;
use crate::output::{self, Format};

mod autoscaling;
mod batch;
mod core;
mod knative;
mod netpol;
mod nodes;
mod quota;
mod stateful;
mod storage;
mod typed;
mod watch;
mod workloads;

pub use typed::{plural, run_typed};
pub use workloads::pod_status;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Only this object
    pub name: Option<String>,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    /// Every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only objects whose labels match (`app=web`, `tier!=db`, `env in (a,b)`, `!canary`; comma-separated)
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// After listing, keep printing the rows of objects that change, until interrupted
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Output format: wide (more columns), json or yaml
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[command(flatten)]
    pub server: ServerArg,
}

/// The objects `args` asks for: one by name, or a list (with `-l`).
pub(crate) fn fetch(client: &Client, kind: &str, args: &GetArgs) -> anyhow::Result<Vec<Value>> {
    if let Some(n) = &args.name {
        let path = format!("/objects/{kind}/{}/{n}", ns_path(kind, &args.namespace));
        return Ok(vec![client.get(&path)?]);
    }
    let mut q = Vec::new();
    if !args.all_namespaces {
        q.push(format!("namespace={}", query_escape(&args.namespace)));
    }
    if let Some(sel) = &args.selector {
        q.push(format!("labelSelector={}", query_escape(sel)));
    }
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    };
    let v: Value = client.get(&format!("/objects/{kind}{q}"))?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// Lists `kind` (`pods`, `deployments`...; `all` for the workload kinds).
pub fn run(kind: &str, args: GetArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = &args.selector {
        if args.name.is_some() {
            return Err(
                BadInput("name cannot be provided when a selector is specified".into()).into(),
            );
        }
        LabelSelector::parse(sel).map_err(|e| BadInput(format!("-l {sel}: {e}")))?;
    }
    let client = Client::new(&args.server)?;
    if args.watch {
        return watch::watch(&client, kind, &args);
    }
    let kinds: Vec<&str> = if kind == "all" {
        vec!["pods", "services", "deployments", "replicasets"]
    } else {
        vec![kind]
    };
    let mut all_items = Vec::new();
    let mut printed = false;
    for k in &kinds {
        let items = fetch(&client, k, &args)?;
        if matches!(args.output, Some(Format::Json | Format::Yaml)) {
            all_items.extend(items);
            continue;
        }
        if items.is_empty() {
            continue;
        }
        if printed {
            println!();
        }
        printed = true;
        let (headers, rows) = table(
            k,
            &items,
            args.output == Some(Format::Wide),
            args.all_namespaces,
            kinds.len() > 1,
        );
        print!(
            "{}",
            output::table(
                &headers.iter().map(String::as_str).collect::<Vec<_>>(),
                &rows
            )
        );
    }
    match args.output {
        Some(f @ (Format::Json | Format::Yaml)) => {
            if args.name.is_some() && all_items.len() == 1 {
                output::structured(f, &all_items[0])?;
            } else {
                output::structured(
                    f,
                    &json!({"apiVersion": "v1", "kind": "List", "items": all_items}),
                )?;
            }
        }
        _ if !printed => {
            let scope = if args.all_namespaces {
                "any namespace".to_string()
            } else {
                format!("{} namespace", args.namespace)
            };
            eprintln!("No resources found in {scope}.");
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Cluster-scoped kinds use `_` as namespace in paths.
pub fn ns_path<'a>(kind: &str, ns: &'a str) -> &'a str {
    if matches!(kind, "ns" | "namespace" | "namespaces" | "nodes") {
        "_"
    } else {
        ns
    }
}

pub(crate) fn s(v: &Value, p: &str) -> String {
    match v.pointer(p) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn n(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// `5s`, `3m`, `2h`, `4d` since an RFC 3339 time.
pub fn age(v: &Value) -> String {
    let Some(t) = v
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    else {
        return "<unknown>".into();
    };
    let Ok(t) = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
    else {
        return "<unknown>".into();
    };
    let secs = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    duration(secs.unsigned_abs())
}

/// `5s`, `3m`, `2h`, `4d`: a span as kubectl's AGE column shows it.
pub fn duration(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// A kind's table: `(kind, items, wide, name)` gives its headers and rows,
/// or `None` when the kind is another table's.
type TableFn = fn(&str, &[Value], bool, &dyn Fn(String) -> String) -> Option<Table>;

/// Headers and rows of one table.
pub(crate) type Table = (Vec<&'static str>, Vec<Vec<String>>);

/// Every kind's table, asked in order; a new kind is one line here.
const TABLES: &[TableFn] = &[
    |k, items, _, name| batch::table(k, items, name),
    stateful::table,
    |k, items, _, name| storage::table(k, items, name),
    |k, items, _, name| netpol::table(k, items, name),
    |k, items, _, name| quota::table(k, items, name),
    |k, items, _, name| nodes::table(k, items, name),
    |k, items, _, name| knative::table(k, items, name),
    |k, items, _, name| autoscaling::table(k, items, name),
    workloads::table,
    core::table,
];

pub(crate) fn table(
    kind: &str,
    items: &[Value],
    wide: bool,
    with_ns: bool,
    prefixed: bool,
) -> (Vec<String>, Vec<Vec<String>>) {
    let prefix = |name: String| {
        if prefixed {
            format!("{}/{name}", short(kind))
        } else {
            name
        }
    };
    let t = TABLES
        .iter()
        .find_map(|t| t(kind, items, wide, &prefix))
        .unwrap_or_else(|| {
            let rows = items
                .iter()
                .map(|c| vec![prefix(s(c, "/metadata/name")), "Active".into(), age(c)])
                .collect();
            (vec!["NAME", "STATUS", "AGE"], rows)
        });
    finish(t, items, with_ns)
}

/// The NAMESPACE column when listing across namespaces.
fn finish(
    (mut headers, mut rows): (Vec<&str>, Vec<Vec<String>>),
    items: &[Value],
    with_ns: bool,
) -> (Vec<String>, Vec<Vec<String>>) {
    if with_ns {
        headers.insert(0, "NAMESPACE");
        for (row, item) in rows.iter_mut().zip(items) {
            row.insert(0, s(item, "/metadata/namespace"));
        }
    }
    (headers.into_iter().map(String::from).collect(), rows)
}

fn short(kind: &str) -> &'static str {
    match kind {
        "pods" => "pod",
        "services" => "service",
        "deployments" => "deployment.apps",
        "replicasets" => "replicaset.apps",
        "jobs" => "job.batch",
        "cronjobs" => "cronjob.batch",
        "statefulsets" => "statefulset.apps",
        "networkpolicies" => "networkpolicy.networking.k8s.io",
        "resourcequotas" => "resourcequota",
        "limitranges" => "limitrange",
        "nodes" => "node",
        "daemonsets" => "daemonset.apps",
        "poddisruptionbudgets" => "poddisruptionbudget.policy",
        "horizontalpodautoscalers" => "horizontalpodautoscaler.autoscaling",
        "ksvc" => "service.serving.knative.dev",
        "revisions" => "revision.serving.knative.dev",
        _ => "object",
    }
}
