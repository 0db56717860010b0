//! Serving the registry's router on a listener, over plain HTTP or over TLS
//! with rustls, until a cancellation token fires (in-flight requests finish).
//! Accepted sockets get `TCP_NODELAY`: without it a response whose head and
//! body leave in two writes waits for the client's delayed ACK (~40 ms per
//! small request).
//!
//! Every connection is held to [`ListenerLimits`] (the gateway's server has
//! the same): a request head (or a TLS handshake) once begun must arrive
//! within `header_timeout`, a connection with no request in flight and no
//! byte received for `idle_timeout` is closed, and at most
//! `max_connections` are served at once — past the cap new connections wait
//! in the listen backlog until one closes (one `warn!` line per burst). A
//! registry without accounts refuses to serve on a non-loopback address
//! ([`check_exposure`]).

mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ferry_core::registry_spec::RegistrySpec;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::{Error, Result};
use watch::{Activity, Watched};

/// The peer of a request's connection (a request extension), for per-client
/// limits such as failed logins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

/// Timeouts and the connection cap of the registry listener.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Time to receive a whole request head (or TLS handshake) once its
    /// first byte arrived.
    pub header_timeout: Duration,
    /// Time a connection may sit with no request in flight and no byte
    /// received before it is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// Refuses an open registry (no users or robots: anyone may push and
/// delete) on an address other than loopback.
pub fn check_exposure(addr: SocketAddr, spec: &RegistrySpec) -> Result<()> {
    let open = spec.users.is_empty() && spec.robots.is_empty();
    if !open || addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the registry would listen on {addr} with no users or robots, so anyone who reaches it could push and delete images; \
         declare accounts (a region's spec.registry, or the file given to `ferry registry serve --config`): \
         `users:` or `robots:` entries with `name`, a `secretHash` made by `ferry registry hash-secret` and \
         `permissions` ({{repositories: \"team/**\", actions: [pull, push]}}), optionally `anonymousPull: true`; \
         or listen on a loopback address such as 127.0.0.1:{}",
        addr.port()
    )))
}

/// A TLS acceptor from PEM certificate chain and key files.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<std::result::Result<_, _>>())
        .map_err(|e| Error::Config(format!("tls certFile {}: {e}", cert_file.display())))?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| Error::Config(format!("tls keyFile {}: {e}", key_file.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("tls certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` (TLS when `tls` is given) under `limits`
/// until `shutdown`; open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tracker = tokio_util::task::TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut warned = false;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                warned = false;
                p
            }
            Err(_) => {
                if !warned {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "registry: connection cap reached; new connections wait until one closes"
                    );
                    warned = true;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    p = slots.clone().acquire_owned() => p.expect("the slots are never closed"),
                }
            }
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "registry: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        no_delay(&stream);
        let (tls, app, limits, shutdown) =
            (tls.clone(), app.clone(), limits.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _permit = permit;
            let Some(tls) = tls else {
                return connection(stream, peer, app, &limits, shutdown).await;
            };
            let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
            match handshake.await {
                Ok(Ok(s)) => connection(s, peer, app, &limits, shutdown).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "registry: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "registry: TLS handshake timed out"),
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Serves one connection (HTTP/1.1 or h2c) until it ends, times out
/// (`limits`) or `shutdown` fires.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: &ListenerLimits,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = Watched::new(stream, activity.clone());
    let svc_activity = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let guard = svc_activity.request_started();
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ClientAddr(peer));
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await?;
            Ok::<_, std::convert::Infallible>(watch::hold_until_sent(resp, guard))
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "registry: connection ended with an error");
            }
        }
        why = activity.expired(limits.header_timeout, limits.idle_timeout) => {
            tracing::debug!(%peer, reason = why, "registry: connection closed");
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Sends small writes at once (see the module docs).
fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "registry: cannot set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_registries_serve_on_loopback_only() {
        let open = RegistrySpec::default();
        for ok in [
            "127.0.0.1:5000",
            "127.0.0.2:5000",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            check_exposure(ok.parse().unwrap(), &open).expect(ok);
        }
        for bad in [
            "0.0.0.0:5000",
            "[::]:5000",
            "10.1.2.3:5000",
            "[::ffff:10.0.0.1]:5000",
        ] {
            let e = check_exposure(bad.parse().unwrap(), &open)
                .expect_err(bad)
                .to_string();
            assert!(
                e.contains("users") && e.contains("robots") && e.contains("hash-secret"),
                "{e}"
            );
        }
        let with_robot: RegistrySpec = serde_json::from_value(serde_json::json!({
            "robots": [{"name": "ci", "secretHash": "$argon2id$x", "permissions": []}]
        }))
        .unwrap();
        check_exposure("0.0.0.0:5000".parse().unwrap(), &with_robot).unwrap();
    }
}
