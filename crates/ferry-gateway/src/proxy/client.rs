//! Upstream HTTP clients: hyper-util's pooling client (HTTP/1.1 keep-alive
//! and HTTP/2 prior knowledge for h2c/gRPC backends) over a connector that
//! dials endpoints through the runtime's [`Dialer`], so pods in their own
//! network namespaces and plain host addresses are reached the same way.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use ferry_core::mesh::{Endpoint, SharedDialer};
use ferry_core::sync::MutexExt;
use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::types::Body;

/// Where a pool key leads: the endpoint and its container port.
#[derive(Debug, Default)]
pub struct Targets(Mutex<HashMap<String, (Endpoint, u16)>>);

impl Targets {
    /// Registers `authority` as leading to `endpoint`'s `port` (called once
    /// per snapshot, see `resolve`).
    pub fn register(&self, authority: &str, endpoint: &Endpoint, port: u16) {
        let mut map = self.0.lock_or_recover();
        match map.get(authority) {
            Some((e, p)) if e == endpoint && *p == port => {}
            _ => {
                map.insert(authority.to_string(), (endpoint.clone(), port));
            }
        }
    }

    pub(super) fn get(&self, authority: &str) -> Option<(Endpoint, u16)> {
        self.0.lock_or_recover().get(authority).cloned()
    }
}

/// Connects pool keys to endpoints through the dialer.
#[derive(Debug, Clone)]
pub struct Connector {
    pub dialer: SharedDialer,
    pub targets: Arc<Targets>,
    pub connect_timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            this.connect(authority).await.map(TokioIo::new)
        })
    }
}

impl Connector {
    /// Dials the endpoint registered for `authority` (with TCP_NODELAY).
    pub async fn connect(&self, authority: &str) -> std::io::Result<TcpStream> {
        let (endpoint, port) = self.targets.get(authority).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("unknown upstream {authority}"),
            )
        })?;
        let stream = tokio::time::timeout(self.connect_timeout, self.dialer.dial(&endpoint, port))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout"))??;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// hyper's pooling clients, for streamed request bodies and upgrades
/// (HTTP/1.1) and for HTTP/2 prior knowledge (requests whose body is
/// buffered, nearly all, go through the inline exchange, `h1`).
#[derive(Debug, Clone)]
pub struct Clients {
    pub connector: Connector,
    pub h1: Client<Connector, Body>,
    pub h2: Client<Connector, Body>,
}

impl Clients {
    pub fn new(connector: Connector) -> Self {
        let mut b = Client::builder(TokioExecutor::new());
        // Idle upstream connections cost ~17 KiB each (hyper's buffers); keep
        // enough for steady concurrency, close what a burst opened beyond it
        // (nginx's `keepalive 256` per worker plays the same role).
        b.pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(128)
            .set_host(false);
        let h1 = b.build(connector.clone());
        let mut b2 = Client::builder(TokioExecutor::new());
        b2.http2_only(true).set_host(false);
        let h2 = b2.build(connector.clone());
        Self { connector, h1, h2 }
    }
}

/// A dialer for endpoints on the host network (netns `None`): plain TCP.
#[derive(Debug, Default)]
pub struct HostDialer;

impl ferry_core::mesh::Dialer for HostDialer {
    fn dial<'a>(&'a self, endpoint: &'a Endpoint, port: u16) -> ferry_core::mesh::DialFuture<'a> {
        Box::pin(async move {
            if endpoint.netns.is_some() {
                return Err(std::io::Error::other(
                    "HostDialer cannot enter network namespaces",
                ));
            }
            TcpStream::connect((endpoint.ip, port)).await
        })
    }
}
