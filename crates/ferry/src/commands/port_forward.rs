//! `ferry port-forward pod/NAME|deploy/NAME|svc/NAME [LOCAL:]REMOTE...`:
//! listens on 127.0.0.1:LOCAL (`--address` to change; LOCAL 0 or empty
//! picks a free port) and forwards each accepted connection into the pod's
//! port REMOTE through one upgraded request to the region's API
//! (`POST /portforward/{ns}/{pod}/{port}`, `Upgrade: ferry-portforward`).
//! For a Service, REMOTE is a service port, mapped to its targetPort as
//! kubectl maps it. Runs until interrupted.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Args;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::client::{Client, ServerArg};
use crate::commands::BadInput;
use crate::commands::get::plural;
use crate::commands::logs::pod_for;

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// pod/NAME (or NAME), deploy/NAME, rs/NAME or svc/NAME
    pub target: String,
    /// LOCAL:REMOTE, or REMOTE for the same port locally, or :REMOTE for any free local port
    #[arg(required = true, value_name = "[LOCAL:]REMOTE")]
    pub ports: Vec<String>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// Set from the global `-n/--namespace` (default `default`)
    #[arg(skip)]
    pub namespace: String,
    #[command(flatten)]
    pub server: ServerArg,
}

/// `LOCAL:REMOTE`, `REMOTE` or `:REMOTE` as `(local, remote)`; local 0 is any.
pub fn parse_ports(spec: &str) -> anyhow::Result<(u16, u16)> {
    let bad = || {
        BadInput(format!(
            "`{spec}`: give LOCAL:REMOTE, REMOTE or :REMOTE (ports 1-65535)"
        ))
    };
    let port = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (local, remote) = match spec.split_once(':') {
        Some(("", r)) => (0, port(r)?),
        Some((l, r)) => (port(l)?, port(r)?),
        None => (port(spec)?, port(spec)?),
    };
    if remote == 0 {
        return Err(bad().into());
    }
    Ok((local, remote))
}

/// A Service port's target port on `pod` (a number, or a container port's name).
fn service_target(svc: &Value, pod: &Value, port: u16) -> anyhow::Result<u16> {
    let sp = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p["port"].as_u64() == Some(u64::from(port)))
        .ok_or_else(|| BadInput(format!("the Service has no port {port}")))?;
    match &sp["targetPort"] {
        Value::Null => Ok(port),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| anyhow!("bad targetPort {n}")),
        Value::String(name) => pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| BadInput(format!("no container port named `{name}`")).into()),
        other => Err(anyhow!("bad targetPort {other}")),
    }
}

/// Resolves the pod and ports, then forwards until interrupted.
pub fn run(args: PortForwardArgs) -> anyhow::Result<ExitCode> {
    let ns = args.namespace.clone();
    let client = Client::new(&args.server)?;
    let pod = pod_for(&client, &ns, &args.target)?;
    let pod_obj: Value = client.get(&format!("/objects/pods/{ns}/{pod}"))?;
    let svc: Option<Value> = match args.target.split_once('/') {
        Some((k, name)) if plural(k) == Some("services") => {
            Some(client.get(&format!("/objects/services/{ns}/{name}"))?)
        }
        _ => None,
    };
    let mut forwards = Vec::new();
    for spec in &args.ports {
        let (local, remote) = parse_ports(spec)?;
        let remote = match &svc {
            Some(s) => service_target(s, &pod_obj, remote)?,
            None => remote,
        };
        forwards.push((local, remote));
    }
    let (http, base) = args.server.target()?.async_client()?;
    crate::commands::runtime()?.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for (local, remote) in forwards {
            let addr = SocketAddr::new(args.address, local);
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            println!("Forwarding from {bound} -> {remote}");
            let url = format!("{base}/portforward/{ns}/{pod}/{remote}");
            tasks.spawn(serve(listener, http.clone(), url, bound.port()));
        }
        tasks.join_next().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn serve(listener: TcpListener, http: reqwest::Client, url: String, local: u16) {
    loop {
        let conn = match listener.accept().await {
            Ok((conn, _)) => conn,
            Err(e) => {
                eprintln!("error accepting on port {local}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        println!("Handling connection for {local}");
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            if let Err(e) = forward(conn, &http, &url).await {
                eprintln!("error forwarding port {local}: {e:#}");
            }
        });
    }
}

async fn forward(mut conn: TcpStream, http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let resp = http
        .post(url)
        .header(reqwest::header::CONNECTION, "Upgrade")
        .header(reqwest::header::UPGRADE, "ferry-portforward")
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if resp.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("no upgrade");
        return Err(anyhow!("{url} answered {status}: {message}"));
    }
    let mut tunnel = resp.upgrade().await?;
    tokio::io::copy_bidirectional(&mut conn, &mut tunnel).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_as_kubectl_takes_them() {
        assert_eq!(parse_ports("8080:80").unwrap(), (8080, 80));
        assert_eq!(parse_ports("5000").unwrap(), (5000, 5000));
        assert_eq!(parse_ports(":80").unwrap(), (0, 80));
        for bad in ["80:", "x:80", "0", "70000", "1:2:3"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_ports_map_to_target_ports() {
        let svc = serde_json::json!({"spec": {"ports": [
            {"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": "web"}, {"port": 82}]}});
        let pod = serde_json::json!({"spec": {"containers": [
            {"name": "c", "ports": [{"name": "web", "containerPort": 9090}]}]}});
        assert_eq!(service_target(&svc, &pod, 80).unwrap(), 8080);
        assert_eq!(service_target(&svc, &pod, 81).unwrap(), 9090);
        assert_eq!(service_target(&svc, &pod, 82).unwrap(), 82);
        assert!(service_target(&svc, &pod, 99).is_err());
    }
}
