//! Accepting connections: the north-south listener (HTTP/1.1 and h2c on the
//! same port, detected per connection; TLS with ALPN h2/http1.1 when the
//! first byte is a TLS handshake and certificates are configured) and mesh
//! connections handed over by the runtime. Upgrades (WebSocket) are served;
//! shutdown lets in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_core::mesh::{MeshHandler, ServiceKey, SourcePod};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use crate::metrics::ConnLabels;

/// Where traffic on a connection comes from.
#[derive(Debug, Clone)]
pub enum Direction {
    North,
    Mesh {
        service: ServiceKey,
        port: u16,
        source: SourcePod,
    },
}

impl Direction {
    pub fn name(&self) -> &'static str {
        match self {
            Direction::North => "north",
            Direction::Mesh { .. } => "mesh",
        }
    }
}

/// Facts about one downstream connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub direction: Direction,
    pub remote: SocketAddr,
    pub local_port: u16,
    pub scheme: &'static str,
}

impl Gateway {
    /// Serves north-south traffic on `listener` until `shutdown`; open
    /// connections finish their in-flight requests.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        let tasks = tokio_util::task::TaskTracker::new();
        let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        loop {
            let (stream, remote) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "gateway accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let this = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move {
                // HTTPS and HTTP share the port: a TLS handshake starts with 0x16.
                let tls = this.inner.tls.load_full();
                let mut first = [0u8; 1];
                if let Some(cfg) = tls.as_ref()
                    && matches!(stream.peek(&mut first).await, Ok(1))
                    && first[0] == 0x16
                {
                    match tokio_rustls::TlsAcceptor::from(cfg.clone())
                        .accept(stream)
                        .await
                    {
                        Ok(s) => {
                            let info = ConnInfo {
                                direction: Direction::North,
                                remote,
                                local_port,
                                scheme: "https",
                            };
                            this.serve_stream(s, info, stop).await;
                        }
                        Err(e) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
                    }
                    return;
                }
                let info = ConnInfo {
                    direction: Direction::North,
                    remote,
                    local_port,
                    scheme: "http",
                };
                this.serve_stream(stream, info, stop).await
            });
        }
        tasks.close();
        tasks.wait().await;
    }

    /// Serves one connection (either direction).
    pub(crate) async fn serve_stream<S>(
        &self,
        stream: S,
        info: ConnInfo,
        shutdown: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let gauge = self
            .inner
            .metrics
            .active_connections
            .get_or_create(&ConnLabels {
                direction: info.direction.name().into(),
            })
            .clone();
        gauge.inc();
        let inner = self.inner.clone();
        let info = Arc::new(info);
        // Boxed: the connection stores its in-flight future inline, so an unboxed
        // pipeline would cost its full size on every idle keep-alive connection.
        let svc = service_fn(move |req| {
            Box::pin(super::handler::handle(inner.clone(), info.clone(), req))
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A client may send its request and shut down its write side (`printf | nc`,
        // HTTP/1.0 tools); keep the connection to answer it.
        builder.http1().half_close(true);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "connection ended"); } }
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
        gauge.dec();
    }

    /// The handler the runtime calls for pod-to-service connections.
    pub fn mesh_handler(&self, shutdown: CancellationToken) -> Arc<dyn MeshHandler> {
        Arc::new(Mesh {
            gateway: self.clone(),
            shutdown,
            handle: tokio::runtime::Handle::current(),
        })
    }
}

/// Serves mesh connections with the gateway's router.
#[derive(Debug)]
struct Mesh {
    gateway: Gateway,
    shutdown: CancellationToken,
    handle: tokio::runtime::Handle,
}

impl MeshHandler for Mesh {
    fn handle(&self, conn: TcpStream, source: SourcePod, service: ServiceKey, port: u16) {
        let remote = conn
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let info = ConnInfo {
            direction: Direction::Mesh {
                service,
                port,
                source,
            },
            remote,
            local_port: port,
            scheme: "http",
        };
        let gw = self.gateway.clone();
        let stop = self.shutdown.clone();
        self.handle
            .spawn(async move { gw.serve_stream(conn, info, stop).await });
    }
}
