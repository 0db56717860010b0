//! `ferry drain NODE`, as kubectl's: cordons the node, then evicts its pods
//! through the Eviction API, retrying every 5 s those a
//! PodDisruptionBudget protects until `--timeout`, and waits for them to
//! go. Pods without a controller need `--force`, pods with emptyDir volumes
//! `--delete-emptydir-data`; DaemonSet pods make it fail unless
//! `--ignore-daemonsets` (and then stay running).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, ServerArg};

/// kubectl's retry interval for evictions a budget refuses.
const RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node: the region's name, as `ferry get nodes` lists it
    pub node: String,
    /// Evict pods that no controller manages (they are not recreated)
    #[arg(long)]
    pub force: bool,
    /// Leave DaemonSet-managed pods running instead of failing
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Evict pods with emptyDir volumes (their data is lost)
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Give up after this long (`0`: wait forever), e.g. 30s or 5m
    #[arg(long, default_value = "0", value_parser = crate::commands::registry::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub server: ServerArg,
}

/// The pods to evict, and kubectl's warnings and refusals.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub evict: Vec<(String, String)>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

/// Sorts the node's pods as kubectl's drain filters do.
pub fn select(pods: &[Value], node: &str, a: &DrainArgs) -> Selection {
    let (mut daemon, mut bare, mut local, mut out) = (vec![], vec![], vec![], Selection::default());
    for p in pods {
        let at = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).unwrap_or_default();
        if at("/spec/nodeName") != node || p.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let id = format!("{}/{}", at("/metadata/namespace"), at("/metadata/name"));
        let controller = p
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| r["controller"] == true);
        let finished = matches!(at("/status/phase"), "Succeeded" | "Failed");
        let empty_dir = p
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|v| v.get("emptyDir").is_some()));
        if controller.is_some_and(|c| c["kind"] == "DaemonSet") {
            daemon.push(id);
            continue;
        }
        if controller.is_none() && !finished {
            bare.push(id.clone());
            if !a.force {
                continue;
            }
        }
        if empty_dir && !finished && !a.delete_emptydir_data {
            local.push(id);
            continue;
        }
        let ns = at("/metadata/namespace").to_string();
        out.evict.push((ns, at("/metadata/name").to_string()));
    }
    let mut report = |list: Vec<String>, ok: bool, warn: &str, err: &str| {
        if list.is_empty() {
            return;
        }
        if ok {
            out.warnings
                .push(format!("Warning: {warn}: {}", list.join(", ")));
        } else {
            out.errors.push(format!("{err}: {}", list.join(", ")));
        }
    };
    report(
        daemon,
        a.ignore_daemonsets,
        "ignoring DaemonSet-managed Pods",
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
    );
    report(
        bare,
        a.force,
        "deleting Pods that declare no controller",
        "cannot delete Pods that declare no controller (use --force to override)",
    );
    report(
        local,
        false,
        "",
        "cannot delete Pods with local storage (use --delete-emptydir-data to override)",
    );
    out
}

/// Drains.
pub fn run(a: DrainArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.server)?;
    println!("{}", crate::commands::cordon::set(&client, &a.node, true)?);
    let v: Value = client.get("/objects/pods")?;
    let pods = v["items"].as_array().cloned().unwrap_or_default();
    let sel = select(&pods, &a.node, &a);
    if !sel.errors.is_empty() {
        return Ok(failed(&a.node, &sel.errors));
    }
    sel.warnings.iter().for_each(|w| eprintln!("{w}"));
    let deadline = (!a.timeout.is_zero()).then(|| Instant::now() + a.timeout);
    let mut pending: Vec<(String, String, Option<String>)> = sel
        .evict
        .into_iter()
        .map(|(ns, name)| {
            println!("evicting pod {ns}/{name}");
            let uid = uid_of(&pods, &ns, &name);
            (ns, name, uid)
        })
        .collect();
    let mut evicted = Vec::new();
    loop {
        let mut blocked = Vec::new();
        for (ns, name, uid) in pending {
            let (status, body) =
                client.post_status(&format!("/eviction/{ns}/{name}"), &json!({}))?;
            match status {
                200..=299 | 404 => evicted.push((ns, name, uid)),
                429 => {
                    let m = body["message"].as_str().unwrap_or("too many requests");
                    eprintln!(
                        "error when evicting pods/\"{name}\" -n \"{ns}\" (will retry after 5s): {m}"
                    );
                    blocked.push((ns, name, uid));
                }
                _ => {
                    let m = body["message"].as_str().unwrap_or("request failed");
                    return Ok(failed(
                        &a.node,
                        &[format!(
                            "error when evicting pods/\"{name}\" -n \"{ns}\": {m}"
                        )],
                    ));
                }
            }
        }
        pending = blocked;
        if pending.is_empty() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() + RETRY > d) {
            let errs: Vec<String> = pending
                .iter()
                .map(|(ns, name, _)| format!("error when evicting pods/\"{name}\" -n \"{ns}\": global timeout reached: {}s", a.timeout.as_secs()))
                .collect();
            return Ok(failed(&a.node, &errs));
        }
        std::thread::sleep(RETRY);
    }
    for (ns, name, uid) in evicted {
        wait_gone(&client, &ns, &name, uid.as_deref(), deadline)?;
        println!("pod/{name} evicted");
    }
    println!("node/{} drained", a.node);
    Ok(ExitCode::SUCCESS)
}

fn uid_of(pods: &[Value], ns: &str, name: &str) -> Option<String> {
    pods.iter()
        .find(|p| p["metadata"]["namespace"] == ns && p["metadata"]["name"] == name)
        .and_then(|p| p.pointer("/metadata/uid")?.as_str().map(String::from))
}

/// Waits until the pod is gone (or replaced by one of the same name).
fn wait_gone(
    client: &Client,
    ns: &str,
    name: &str,
    uid: Option<&str>,
    deadline: Option<Instant>,
) -> anyhow::Result<()> {
    loop {
        let now = client.get::<Value>(&format!("/objects/pods/{ns}/{name}"));
        let gone = match &now {
            Err(_) => true,
            Ok(p) => p.pointer("/metadata/uid").and_then(Value::as_str) != uid,
        };
        if gone {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            anyhow::bail!(
                "error when waiting for pod \"{name}\" in namespace \"{ns}\" to terminate: global timeout reached"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// kubectl's report of a drain that could not finish (exit status 1).
fn failed(node: &str, errors: &[String]) -> ExitCode {
    let joined = if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("[{}]", errors.join(", "))
    };
    eprintln!(
        "error: unable to drain node \"{node}\" due to error: {joined}, continuing command..."
    );
    eprintln!("There are pending nodes to be drained:\n {node}");
    errors.iter().for_each(|e| eprintln!("{e}"));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: DrainArgs,
    }

    fn args(extra: &[&str]) -> DrainArgs {
        T::parse_from([&["t", "uk"][..], extra].concat()).a
    }

    fn pod(name: &str, owner: Option<&str>, empty_dir: bool) -> Value {
        let refs = owner.map(|k| json!([{"kind": k, "name": "x", "controller": true}]));
        let vols = if empty_dir {
            json!([{"name": "v", "emptyDir": {}}])
        } else {
            json!([])
        };
        json!({"metadata": {"namespace": "default", "name": name, "ownerReferences": refs},
            "spec": {"nodeName": "uk", "volumes": vols}})
    }

    #[test]
    fn daemonset_and_bare_pods_need_their_flags_as_kubectl() {
        let pods = [
            pod("web-a", Some("ReplicaSet"), false),
            pod("ds-a", Some("DaemonSet"), false),
            pod("bare", None, false),
        ];
        let s = select(&pods, "uk", &args(&[]));
        assert_eq!(
            s.errors,
            [
                "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/ds-a",
                "cannot delete Pods that declare no controller (use --force to override): default/bare",
            ]
        );
        let s = select(&pods, "uk", &args(&["--ignore-daemonsets", "--force"]));
        assert!(s.errors.is_empty());
        assert_eq!(
            s.evict,
            [
                ("default".into(), "web-a".into()),
                ("default".into(), "bare".into())
            ]
        );
        assert_eq!(
            s.warnings,
            [
                "Warning: ignoring DaemonSet-managed Pods: default/ds-a",
                "Warning: deleting Pods that declare no controller: default/bare",
            ]
        );
    }

    #[test]
    fn empty_dir_pods_need_delete_emptydir_data() {
        let pods = [pod("cache-a", Some("ReplicaSet"), true)];
        let s = select(&pods, "uk", &args(&[]));
        assert_eq!(
            s.errors,
            [
                "cannot delete Pods with local storage (use --delete-emptydir-data to override): default/cache-a"
            ]
        );
        let s = select(
            &pods,
            "uk",
            &args(&["--delete-emptydir-data", "--timeout", "30s"]),
        );
        assert_eq!(s.evict.len(), 1);
    }
}
