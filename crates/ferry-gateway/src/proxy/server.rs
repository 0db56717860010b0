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

use super::downstream::RequestBody;
use super::types::{ConnInfo, ConnState, Direction};
use super::{Gateway, handler};

/// What an h2c connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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
            let info = ConnInfo {
                direction: Direction::North,
                remote,
                local_port,
                scheme: "http",
            };
            let conn = Arc::new(ConnState::new(info));
            tasks.spawn(self.clone().serve_tcp(stream, conn, shutdown.clone()));
        }
        tasks.close();
        tasks.wait().await;
    }

    /// Serves one plain TCP connection: HTTPS (first byte 0x16, when
    /// certificates are configured) and h2c are boxed off the common path;
    /// HTTP/1.1 is served by ferry's own server (`downstream`).
    async fn serve_tcp(self, stream: TcpStream, conn: Arc<ConnState>, shutdown: CancellationToken) {
        let _active = self.inner.metrics.connection(conn.direction.name());
        let mut first = [0u8; H2_PREFACE.len()];
        let n = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = stream.peek(&mut first) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
        };
        if first[0] == 0x16
            && matches!(conn.direction, Direction::North)
            && let Some(cfg) = self.inner.tls.load().as_ref()
        {
            // Boxed in a statement of its own: a temporary inside an
            // awaited expression would keep its room in this future too,
            // and this future lives as long as every idle connection.
            let tls = Box::pin(self.serve_tls(stream, conn, cfg.clone(), shutdown));
            tls.await;
            return;
        }
        // The h2c preface, or too little of a request to tell: let hyper's
        // protocol detection decide (it reads until it can).
        if H2_PREFACE.starts_with(&first[..n]) {
            let h2c = Box::pin(self.serve_stream(stream, conn, shutdown));
            h2c.await;
            return;
        }
        super::downstream::serve(self.inner.clone(), stream, conn, shutdown).await;
    }

    /// Terminates TLS, then serves the decrypted stream (HTTP/1.1 or h2 by ALPN).
    async fn serve_tls(
        self,
        stream: TcpStream,
        conn: Arc<ConnState>,
        cfg: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) {
        let remote = conn.remote;
        let info = ConnInfo {
            scheme: "https",
            ..conn.info.clone()
        };
        match tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await {
            Ok(s) => {
                self.serve_stream(s, Arc::new(ConnState::new(info)), shutdown)
                    .await
            }
            Err(e) => tracing::debug!(error = %e, %remote, "TLS handshake failed"),
        }
    }

    /// Serves one connection (either direction) with hyper's protocol
    /// detection (HTTP/1.1 or h2c): TLS and h2c connections.
    pub(crate) async fn serve_stream<S>(
        &self,
        stream: S,
        conn: Arc<ConnState>,
        shutdown: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = self.inner.clone();
        // Boxed: the connection stores its in-flight future inline, so an unboxed
        // pipeline would cost its full size on every idle keep-alive connection.
        let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let req = req.map(RequestBody::Hyper);
            Box::pin(handler::handle(inner.clone(), conn.clone(), req))
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
        self.handle.spawn(gw.serve_tcp(
            conn,
            Arc::new(ConnState::new(info)),
            self.shutdown.clone(),
        ));
    }
}
