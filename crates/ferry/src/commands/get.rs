//! `ferry get pods|deploy|rs|svc|cm|secrets|ns|all [NAME] [-n NS|-A] [-l SELECTOR] [-w] [-o wide|yaml|json]`
//! and `ferry get TYPE/NAME...`: kubectl-like tables of the runtime's
//! objects with live pod status. `-l` filters on the server (the list
//! route's `labelSelector`); `-w` prints the table, then polls the list
//! every second and prints each row that changed (AGE aside), as kubectl's
//! watch does, until interrupted.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser};
use ferry_core::labels::LabelSelector;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg, query_escape};
use crate::commands::BadInput;
use crate::output::{self, Format};

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

/// `ferry get TYPE/NAME [TYPE/NAME...] [-n NS] [-o ...] [-w]`: what clap
/// hands over as an external subcommand (`words[0]` is the first TYPE/NAME).
#[derive(Debug, Parser)]
#[command(name = "ferry get TYPE/NAME", no_binary_name = true)]
pub struct TypedArgs {
    /// More TYPE/NAME
    pub more: Vec<String>,
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    #[arg(short, long, value_enum)]
    pub output: Option<Format>,
    #[arg(short = 'w', long)]
    pub watch: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// The list route's word for a kind kubectl users type (`deploy`, `svc`...).
pub fn plural(kind: &str) -> Option<&'static str> {
    let k = kind.to_ascii_lowercase();
    Some(match k.split('.').next().unwrap_or_default() {
        "po" | "pod" | "pods" => "pods",
        "deploy" | "deployment" | "deployments" => "deployments",
        "rs" | "replicaset" | "replicasets" => "replicasets",
        "svc" | "service" | "services" => "services",
        "cm" | "configmap" | "configmaps" => "configmaps",
        "secret" | "secrets" => "secrets",
        "ns" | "namespace" | "namespaces" => "namespaces",
        _ => return None,
    })
}

/// Splits `TYPE/NAME` into the list route's kind and the name.
pub fn typed_name(word: &str) -> anyhow::Result<(&'static str, String)> {
    let (kind, name) = word.split_once('/').unwrap_or((word, ""));
    let Some(kind) = plural(kind) else {
        return Err(BadInput(format!(
            "the server doesn't have a resource type \"{kind}\" (use pods, deploy, rs, svc, cm, secrets, ns, all or routes)"
        ))
        .into());
    };
    if name.is_empty() || name.contains('/') {
        return Err(BadInput(format!("give TYPE/NAME (got `{word}`)")).into());
    }
    Ok((kind, name.to_string()))
}

/// Runs `ferry get TYPE/NAME...`; `global_ns` is the global `-n`.
pub fn run_typed(words: Vec<String>, global_ns: Option<String>) -> anyhow::Result<ExitCode> {
    let (first, rest) = words
        .split_first()
        .expect("clap gives the subcommand's name");
    let t = TypedArgs::try_parse_from(rest).unwrap_or_else(|e| e.exit());
    let namespace = t
        .namespace
        .or(global_ns)
        .unwrap_or_else(|| "default".into());
    let targets: Vec<(&str, String)> = std::iter::once(first)
        .chain(&t.more)
        .map(|w| typed_name(w))
        .collect::<anyhow::Result<_>>()?;
    if t.watch && targets.len() > 1 {
        return Err(BadInput("watch is only supported on one resource at a time".into()).into());
    }
    for (kind, name) in targets {
        run(
            kind,
            GetArgs {
                name: Some(name),
                namespace: namespace.clone(),
                all_namespaces: false,
                selector: None,
                watch: t.watch,
                output: t.output,
                server: t.server.clone(),
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The objects `args` asks for: one by name, or a list (with `-l`).
fn fetch(client: &Client, kind: &str, args: &GetArgs) -> anyhow::Result<Vec<Value>> {
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
        return watch(&client, kind, &args);
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

/// `get -w`: prints the current rows, then each row whose cells (AGE
/// aside) changed, and the last row of each object that went away, polling
/// once a second until interrupted.
fn watch(client: &Client, kind: &str, args: &GetArgs) -> anyhow::Result<ExitCode> {
    if kind == "all" || matches!(args.output, Some(Format::Json | Format::Yaml)) {
        return Err(BadInput("-w prints tables of one resource type".into()).into());
    }
    // The named object must exist at first, as kubectl's watch requires;
    // later polls list the namespace so a deletion shows as a change.
    fetch(client, kind, args)?;
    let listing = GetArgs {
        name: None,
        namespace: args.namespace.clone(),
        all_namespaces: args.all_namespaces,
        selector: args.selector.clone(),
        watch: true,
        output: args.output,
        server: args.server.clone(),
    };
    let mut last: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut widths: Option<Vec<usize>> = None;
    let mut out = std::io::stdout();
    loop {
        let mut items = fetch(client, kind, &listing)?;
        if let Some(n) = &args.name {
            items.retain(|i| i.pointer("/metadata/name").and_then(Value::as_str) == Some(n));
        }
        let wide = args.output == Some(Format::Wide);
        let (headers, rows) = table(kind, &items, wide, args.all_namespaces, false);
        let (now, changed) = changes(&headers, &items, rows, &last);
        if !changed.is_empty() {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            let w = widths.get_or_insert_with(|| output::widths(&headers, &changed));
            if last.is_empty() && out.write_all(output::line(w, &headers).as_bytes()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
            for row in &changed {
                if out.write_all(output::line(w, row).as_bytes()).is_err() {
                    return Ok(ExitCode::SUCCESS); // the reader went away
                }
            }
            out.flush()?;
        }
        last = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

type Rows = BTreeMap<String, (Vec<String>, Vec<String>)>;

/// The rows keyed by namespace/name with their signature (the cells but
/// AGE), and the rows to print: new or changed ones, then vanished ones.
fn changes(
    headers: &[String],
    items: &[Value],
    rows: Vec<Vec<String>>,
    last: &Rows,
) -> (Rows, Vec<Vec<String>>) {
    let age = headers.iter().position(|h| h == "AGE");
    let mut now = BTreeMap::new();
    let mut changed = Vec::new();
    for (item, row) in items.iter().zip(rows) {
        let key = format!(
            "{}/{}",
            s(item, "/metadata/namespace"),
            s(item, "/metadata/name")
        );
        let sig: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != age)
            .map(|(_, c)| c.clone())
            .collect();
        if last.get(&key).is_none_or(|(old, _)| *old != sig) {
            changed.push(row.clone());
        }
        now.insert(key, (sig, row));
    }
    for (key, (_, row)) in last {
        if !now.contains_key(key) {
            changed.push(row.clone());
        }
    }
    (now, changed)
}

/// Cluster-scoped kinds use `_` as namespace in paths.
pub fn ns_path<'a>(kind: &str, ns: &'a str) -> &'a str {
    if matches!(kind, "ns" | "namespace" | "namespaces") {
        "_"
    } else {
        ns
    }
}

fn s(v: &Value, p: &str) -> String {
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

/// A pod's STATUS column, as kubectl computes it.
pub fn pod_status(p: &Value) -> String {
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let statuses = p
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return format!("Init:{r}");
        }
        if c.pointer("/state/running").is_some() {
            return format!("Init:0/{}", statuses.len());
        }
    }
    for c in p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = c
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            return r.to_string();
        }
        if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            return r.to_string();
        }
    }
    s(p, "/status/phase")
}

fn table(
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
    let (mut headers, mut rows): (Vec<&str>, Vec<Vec<String>>) = match kind {
        "pods" | "pod" | "po" => (
            if wide {
                vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
            } else {
                vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
            },
            items
                .iter()
                .map(|p| {
                    let cs = p
                        .pointer("/status/containerStatuses")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let total = p
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let ready = cs.iter().filter(|c| c["ready"] == true).count();
                    let restarts: i64 = cs
                        .iter()
                        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                        .sum();
                    let mut row = vec![
                        prefix(s(p, "/metadata/name")),
                        format!("{ready}/{total}"),
                        pod_status(p),
                        restarts.to_string(),
                        age(p),
                    ];
                    if wide {
                        row.extend([s(p, "/status/podIP"), "ferry".into()]);
                    }
                    row
                })
                .collect(),
        ),
        "deployments" | "deploy" | "deployment" => (
            if wide {
                vec![
                    "NAME",
                    "READY",
                    "UP-TO-DATE",
                    "AVAILABLE",
                    "AGE",
                    "CONTAINERS",
                    "IMAGES",
                ]
            } else {
                vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
            },
            items
                .iter()
                .map(|d| {
                    let want = d
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let mut row = vec![
                        prefix(s(d, "/metadata/name")),
                        format!("{}/{want}", n(d, "/status/readyReplicas")),
                        n(d, "/status/updatedReplicas").to_string(),
                        n(d, "/status/availableReplicas").to_string(),
                        age(d),
                    ];
                    if wide {
                        let cs = d
                            .pointer("/spec/template/spec/containers")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        row.push(
                            cs.iter()
                                .map(|c| s(c, "/name"))
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                        row.push(
                            cs.iter()
                                .map(|c| s(c, "/image"))
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                    row
                })
                .collect(),
        ),
        "replicasets" | "rs" | "replicaset" => (
            vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            items
                .iter()
                .map(|r| {
                    vec![
                        prefix(s(r, "/metadata/name")),
                        n(r, "/spec/replicas").to_string(),
                        n(r, "/status/replicas").to_string(),
                        n(r, "/status/readyReplicas").to_string(),
                        age(r),
                    ]
                })
                .collect(),
        ),
        "services" | "svc" | "service" => (
            vec![
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            items
                .iter()
                .map(|v| {
                    let ty = v
                        .pointer("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP")
                        .to_string();
                    let ports: Vec<String> = v
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| match p.get("nodePort").and_then(Value::as_i64) {
                            Some(np) => format!("{}:{np}/TCP", n(p, "/port")),
                            None => format!("{}/TCP", n(p, "/port")),
                        })
                        .collect();
                    let external = if ty == "LoadBalancer" {
                        "127.0.0.1".to_string()
                    } else {
                        "<none>".into()
                    };
                    vec![
                        prefix(s(v, "/metadata/name")),
                        ty,
                        s(v, "/spec/clusterIP"),
                        external,
                        ports.join(","),
                        age(v),
                    ]
                })
                .collect(),
        ),
        "configmaps" | "cm" | "configmap" => (
            vec!["NAME", "DATA", "AGE"],
            items
                .iter()
                .map(|c| {
                    vec![
                        prefix(s(c, "/metadata/name")),
                        c.get("data")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len())
                            .to_string(),
                        age(c),
                    ]
                })
                .collect(),
        ),
        "secrets" | "secret" => (
            vec!["NAME", "TYPE", "DATA", "AGE"],
            items
                .iter()
                .map(|c| {
                    let count = c
                        .get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                        + c.get("stringData")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len());
                    let ty = c
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("Opaque")
                        .to_string();
                    vec![
                        prefix(s(c, "/metadata/name")),
                        ty,
                        count.to_string(),
                        age(c),
                    ]
                })
                .collect(),
        ),
        _ => (
            vec!["NAME", "STATUS", "AGE"],
            items
                .iter()
                .map(|c| vec![prefix(s(c, "/metadata/name")), "Active".into(), age(c)])
                .collect(),
        ),
    };
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
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_names_as_kubectl_takes_them() {
        assert_eq!(
            typed_name("deploy/web").unwrap(),
            ("deployments", "web".to_string())
        );
        assert_eq!(
            typed_name("deployment.apps/web").unwrap(),
            ("deployments", "web".to_string())
        );
        assert_eq!(typed_name("po/a").unwrap(), ("pods", "a".to_string()));
        let err = typed_name("widgets/a").unwrap_err().to_string();
        assert!(
            err.contains("doesn't have a resource type \"widgets\""),
            "{err}"
        );
        assert!(typed_name("deploy/").is_err());
    }

    #[test]
    fn watch_prints_changed_rows_but_not_age_ticks() {
        let headers: Vec<String> = ["NAME", "DATA", "AGE"].map(String::from).to_vec();
        let item = |n: &str| json!({"metadata": {"name": n, "namespace": "default"}});
        let row = |n: &str, d: &str, a: &str| vec![n.to_string(), d.to_string(), a.to_string()];
        let (first, printed) = changes(
            &headers,
            &[item("a")],
            vec![row("a", "1", "1s")],
            &Rows::new(),
        );
        assert_eq!(printed, [row("a", "1", "1s")]);
        let (same, printed) = changes(&headers, &[item("a")], vec![row("a", "1", "2s")], &first);
        assert!(printed.is_empty(), "only AGE moved: {printed:?}");
        let (_, printed) = changes(
            &headers,
            &[item("a"), item("b")],
            vec![row("a", "2", "3s"), row("b", "0", "0s")],
            &same,
        );
        assert_eq!(printed, [row("a", "2", "3s"), row("b", "0", "0s")]);
        let (_, printed) = changes(&headers, &[], vec![], &same);
        assert_eq!(
            printed,
            [row("a", "1", "2s")],
            "a deletion prints the last row"
        );
    }
}
