//! `ferry get TYPE/NAME...`: kubectl's typed-name form, which clap hands
//! over as an external subcommand, and the kind words kubectl users type.

use std::process::ExitCode;

use clap::Parser;

use super::{GetArgs, run};
use crate::client::ServerArg;
use crate::commands::BadInput;
use crate::output::Format;

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
    // Knative Serving's kinds by their group first: `services.serving…`
    // is not core/v1's Service.
    if let Some(word) = k.strip_suffix(".serving.knative.dev") {
        return match word {
            "service" | "services" => Some("ksvc"),
            "revision" | "revisions" => Some("revisions"),
            _ => None,
        };
    }
    Some(match k.split('.').next().unwrap_or_default() {
        "po" | "pod" | "pods" => "pods",
        "deploy" | "deployment" | "deployments" => "deployments",
        "rs" | "replicaset" | "replicasets" => "replicasets",
        "svc" | "service" | "services" => "services",
        "cm" | "configmap" | "configmaps" => "configmaps",
        "secret" | "secrets" => "secrets",
        "ns" | "namespace" | "namespaces" => "namespaces",
        "job" | "jobs" => "jobs",
        "cj" | "cronjob" | "cronjobs" => "cronjobs",
        "sts" | "statefulset" | "statefulsets" => "statefulsets",
        "pvc" | "persistentvolumeclaim" | "persistentvolumeclaims" => "persistentvolumeclaims",
        "pv" | "persistentvolume" | "persistentvolumes" => "persistentvolumes",
        "sc" | "storageclass" | "storageclasses" => "storageclasses",
        "netpol" | "networkpolicy" | "networkpolicies" => "networkpolicies",
        "quota" | "resourcequota" | "resourcequotas" => "resourcequotas",
        "limits" | "limitrange" | "limitranges" => "limitranges",
        "no" | "node" | "nodes" => "nodes",
        "ds" | "daemonset" | "daemonsets" => "daemonsets",
        "pdb" | "poddisruptionbudget" | "poddisruptionbudgets" => "poddisruptionbudgets",
        "hpa" | "horizontalpodautoscaler" | "horizontalpodautoscalers" => {
            "horizontalpodautoscalers"
        }
        "ksvc" | "kservice" => "ksvc",
        "rev" | "revision" | "revisions" => "revisions",
        _ => return None,
    })
}

/// Splits `TYPE/NAME` into the list route's kind and the name.
pub fn typed_name(word: &str) -> anyhow::Result<(&'static str, String)> {
    let (kind, name) = word.split_once('/').unwrap_or((word, ""));
    let Some(kind) = plural(kind) else {
        return Err(BadInput(format!(
            "the server doesn't have a resource type \"{kind}\" (use pods, deploy, rs, sts, ds, svc, cm, secrets, ns, jobs, cj, hpa, pvc, ksvc, rev, all or routes; `ferry api-resources` lists every type)"
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
    if !first.contains('/')
        && let Some(kind) = plural(first)
        && t.more.len() <= 1
    {
        // `get jobs [NAME]`: the kinds without a verb of their own.
        let args = GetArgs {
            name: t.more.first().cloned(),
            namespace,
            all_namespaces: false,
            selector: None,
            watch: t.watch,
            output: t.output,
            server: t.server.clone(),
        };
        return run(kind, args);
    }
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
        assert_eq!(typed_name("ksvc/f").unwrap(), ("ksvc", "f".to_string()));
        assert_eq!(
            typed_name("services.serving.knative.dev/f").unwrap(),
            ("ksvc", "f".to_string())
        );
        assert_eq!(typed_name("service/f").unwrap().0, "services");
        assert_eq!(typed_name("rev/f-00001").unwrap().0, "revisions");
    }
}
