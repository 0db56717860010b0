//! Test fixtures: tiny HTTP backends on 127.0.0.1 that answer their version
//! and record what they saw, Service snapshots built from them, and a
//! gateway serving on a loopback port with objects parsed from YAML, and
//! fake Service addresses handing connections to its mesh handler.
//! `wire` reads HTTP/1.1 by hand; `raw` is a scripted raw-TCP backend.
#![allow(dead_code)]

pub mod raw;
pub mod wire;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_core::mesh::{
    Endpoint, ServiceEntry, ServiceKey, ServicePort, ServiceSnapshot, SourcePod,
};
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_gateway::{Gateway, GatewayConfig, HostDialer};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a backend saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The HTTP version of the leg from the gateway to the backend.
    pub http_version: hyper::Version,
    pub host: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// A backend answering `<version>` (200), with knobs for failures.
#[derive(Debug, Clone)]
pub struct Backend {
    pub addr: SocketAddr,
    pub version: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer 503 to the first `fail_first` requests.
    pub fail_first: Arc<AtomicU32>,
    /// Answer 503 to every request while non-zero.
    pub fail_all: Arc<AtomicU32>,
    /// Delay every answer by this many milliseconds.
    pub delay_ms: Arc<AtomicU64>,
}

impl Backend {
    pub async fn start(version: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = Backend {
            addr: listener.local_addr().unwrap(),
            version: version.to_string(),
            seen: Arc::default(),
            fail_first: Arc::default(),
            fail_all: Arc::default(),
            delay_ms: Arc::default(),
        };
        let this = b.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let this = this.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let this = this.clone();
                        async move {
                            let grpc = req
                                .headers()
                                .get("content-type")
                                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
                            let seen = Seen {
                                http_version: req.version(),
                                host: req
                                    .headers()
                                    .get("host")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_string(),
                                path: req.uri().path().to_string(),
                                headers: req
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_string())
                                    })
                                    .collect(),
                            };
                            this.seen.lock().unwrap().push(seen);
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let delay = this.delay_ms.load(Ordering::SeqCst);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay)).await;
                            }
                            let fail = this.fail_all.load(Ordering::SeqCst) > 0
                                || this
                                    .fail_first
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                        n.checked_sub(1)
                                    })
                                    .is_ok();
                            let text = if body.is_empty() {
                                this.version.clone()
                            } else {
                                format!("{} {}", this.version, String::from_utf8_lossy(&body))
                            };
                            if grpc {
                                return Ok::<_, Infallible>(grpc_answer(&this.version, body));
                            }
                            let mut resp =
                                hyper::Response::new(Full::new(Bytes::from(text)).boxed());
                            if fail {
                                *resp.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                            }
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        b
    }

    /// The versions of the requests this backend received.
    pub fn http_versions(&self) -> Vec<hyper::Version> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.http_version)
            .collect()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// An endpoint for this backend (pod `name`, labels `version=<version>`, Service port 80).
    pub fn endpoint(&self, pod: &str) -> Endpoint {
        Endpoint {
            pod: pod.to_string(),
            labels: [
                ("app".to_string(), "myhero".to_string()),
                ("version".to_string(), self.version.clone()),
            ]
            .into(),
            ready: true,
            netns: None,
            ip: self.addr.ip(),
            ports: [(80u16, self.addr.port())].into(),
        }
    }
}

/// A gRPC answer: the request's message echoed, then the trailers
/// `grpc-status: 0` and `grpc-message: <version>`, as a gRPC server ends
/// every call (the status is in the trailers, not the HTTP status).
fn grpc_answer(
    version: &str,
    body: Bytes,
) -> hyper::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    trailers.insert(
        "grpc-message",
        hyper::header::HeaderValue::from_str(version).unwrap(),
    );
    let frames = [
        Ok::<_, Infallible>(hyper::body::Frame::data(body)),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    hyper::Response::builder()
        .header("content-type", "application/grpc")
        .body(BodyExt::boxed(body))
        .unwrap()
}

/// A Service `ns/name` on port 80 with `endpoints`.
pub fn service(ns: &str, name: &str, endpoints: Vec<Endpoint>) -> ServiceEntry {
    ServiceEntry {
        key: ServiceKey {
            namespace: ns.into(),
            name: name.into(),
        },
        vip: "127.0.0.1".parse().unwrap(),
        ports: vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            node_port: None,
            app_protocol: None,
        }],
        endpoints,
    }
}

pub fn snapshot(services: Vec<ServiceEntry>) -> ServiceSnapshot {
    ServiceSnapshot {
        services: services.into_iter().map(|s| (s.key.clone(), s)).collect(),
    }
}

/// Parses multi-document YAML into stored objects.
pub fn objects(yaml: &str) -> Vec<Arc<StoredObject>> {
    let docs = ferry_core::yaml::parse_documents("test.yaml", yaml).expect("yaml");
    docs.into_iter()
        .map(|d| {
            let v = d.value;
            Arc::new(StoredObject {
                group_kind: GroupKind::of(
                    v["apiVersion"].as_str().unwrap(),
                    v["kind"].as_str().unwrap(),
                ),
                namespace: v
                    .pointer("/metadata/namespace")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .or(Some("myhero".into())),
                name: v
                    .pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap()
                    .to_string(),
                source: format!("test.yaml: document {}", d.index),
                value: v,
            })
        })
        .collect()
}

/// A gateway serving on a loopback port.
pub struct Running {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    pub services: watch::Sender<ServiceSnapshot>,
    pub stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn gateway(snap: ServiceSnapshot, yaml: &str) -> Running {
    gateway_with(snap, yaml, GatewayConfig::default()).await
}

/// [`gateway`] with its tunables.
pub async fn gateway_with(snap: ServiceSnapshot, yaml: &str, config: GatewayConfig) -> Running {
    let (tx, rx) = watch::channel(snap);
    let gateway = Gateway::new(Arc::new(HostDialer), rx, config);
    gateway
        .apply(objects(yaml))
        .unwrap_or_else(|p| panic!("apply: {p}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let (g, s) = (gateway.clone(), stop.clone());
    tokio::spawn(async move { g.serve(listener, s).await });
    Running {
        gateway,
        addr,
        services: tx,
        stop,
    }
}

/// A client that keeps connections alive.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GET `path` with `Host: host` through the gateway; (status, body).
pub async fn get(
    c: &reqwest::Client,
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut rb = c.get(format!("http://{addr}{path}")).header("host", host);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// The myhero-ui DestinationRule (subsets v1, v2, v3) used by the seed.
pub const UI_DESTINATION_RULE: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: myhero-ui-destinationrule}
spec:
  host: myhero-ui
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: myhero-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"#;

/// A fake "service address": every accepted connection goes to the handler
/// as if a pod labelled `labels` had dialed `myhero/<service>:80`.
pub async fn service_address(
    gw: &ferry_gateway::Gateway,
    service: &str,
    labels: &[(&str, &str)],
) -> std::net::SocketAddr {
    let handler = gw.mesh_handler(tokio_util::sync::CancellationToken::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key = ServiceKey {
        namespace: "myhero".into(),
        name: service.into(),
    };
    let source = SourcePod {
        namespace: "myhero".into(),
        pod: "caller".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let handler = Arc::clone(&handler);
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)): std::io::Result<(tokio::net::TcpStream, _)> =
                listener.accept().await
            else {
                break;
            };
            handler.handle(conn, source.clone(), key.clone(), 80);
        }
    });
    addr
}
