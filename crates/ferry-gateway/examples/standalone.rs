//! Runs the gateway alone, for benchmarks and experiments: routing objects
//! from YAML files, Services from the command line (endpoints are host
//! addresses), metrics at `GET /metrics` on the gateway's own port never
//! (use the region for that). Example:
//!
//! ```text
//! standalone --listen 127.0.0.1:8080 --routes routes.yaml \
//!   --service default/web=v1@127.0.0.1:9001,v2@127.0.0.1:9002
//! ```
//! Each endpoint gets the labels `version=<name>`; `FERRY_WORKERS` sets the
//! number of tokio worker threads (1: a current-thread runtime).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_core::mesh::{Endpoint, ServiceEntry, ServiceKey, ServicePort, ServiceSnapshot};
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_gateway::{Gateway, GatewayConfig, HostDialer};

// The same allocator and settings as the `ferry` binary (see its main.rs).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = "127.0.0.1:8080".to_string();
    let mut routes = Vec::new();
    let mut services = BTreeMap::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--listen" => listen = v,
            "--routes" => routes.push(v),
            "--service" => {
                let (key, eps) = v
                    .split_once('=')
                    .unwrap_or_else(|| usage("--service ns/name=ver@addr,..."));
                let (ns, name) = key.split_once('/').unwrap_or(("default", key));
                let key = ServiceKey {
                    namespace: ns.into(),
                    name: name.into(),
                };
                let endpoints = eps
                    .split(',')
                    .map(|e| {
                        let (ver, addr) = e
                            .split_once('@')
                            .unwrap_or_else(|| usage("endpoint is ver@addr"));
                        let addr: std::net::SocketAddr =
                            addr.parse().unwrap_or_else(|_| usage("bad address"));
                        Endpoint {
                            pod: format!("{name}-{ver}-{}", addr.port()),
                            labels: [("version".to_string(), ver.to_string())].into(),
                            ready: true,
                            netns: None,
                            ip: addr.ip(),
                            ports: [(80u16, addr.port())].into(),
                        }
                    })
                    .collect();
                let ports = vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    node_port: None,
                    app_protocol: None,
                }];
                services.insert(
                    key.clone(),
                    ServiceEntry {
                        key,
                        vip: "127.0.0.1".parse().unwrap(),
                        ports,
                        endpoints,
                    },
                );
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let mut objects = Vec::new();
    for file in &routes {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| usage(&format!("{file}: {e}")));
        for d in
            ferry_core::yaml::parse_documents(file, &text).unwrap_or_else(|p| usage(&p.to_string()))
        {
            let v = d.value;
            objects.push(Arc::new(StoredObject {
                group_kind: GroupKind::of(
                    v["apiVersion"].as_str().unwrap_or(""),
                    v["kind"].as_str().unwrap_or(""),
                ),
                namespace: Some(
                    v.pointer("/metadata/namespace")
                        .and_then(|n| n.as_str())
                        .unwrap_or("default")
                        .to_string(),
                ),
                name: v
                    .pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_string(),
                source: format!("{file}: document {}", d.index),
                value: v,
            }));
        }
    }
    // FERRY_WORKERS=1 runs everything on the main thread (a current-thread
    // runtime: one event loop, like one nginx worker); more start that many
    // worker threads.
    let workers: Option<usize> = std::env::var("FERRY_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok());
    if workers == Some(1) {
        // One thread in all, like an nginx worker: jemalloc's purging thread
        // (on in `.cargo/config.toml`) is stopped. A process of one thread
        // takes no reference on a file for each socket call (the kernel's
        // fast path for an unshared descriptor table): about 2 % more
        // requests per CPU-second in the one-core benchmark. The cost: freed
        // pages go back to the system only while the allocator is in use
        // (27-34 MB instead of 25 MB resident with 9,900 idle connections).
        tikv_jemalloc_ctl::background_thread::write(false)
            .unwrap_or_else(|e| usage(&format!("jemalloc background thread: {e}")));
    }
    let mut rt = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if let Some(n) = workers.filter(|&n| n > 1) {
        rt.worker_threads(n);
    }
    rt.enable_all()
        .build()
        .expect("tokio")
        .block_on(async move {
            let (_tx, rx) = tokio::sync::watch::channel(ServiceSnapshot { services });
            let gw = Gateway::new(Arc::new(HostDialer), rx, GatewayConfig::default());
            if let Err(p) = gw.apply(objects) {
                usage(&p.to_string());
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .unwrap_or_else(|e| usage(&format!("{listen}: {e}")));
            eprintln!("gateway listening on {listen}");
            gw.serve(listener, tokio_util::sync::CancellationToken::new())
                .await;
        });
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "standalone: {msg}\nusage: standalone --listen ADDR --routes FILE.yaml --service ns/name=ver@addr[,ver@addr]"
    );
    std::process::exit(2)
}
