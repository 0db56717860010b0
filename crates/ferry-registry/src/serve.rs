//! Serving the registry's router on a listener, over plain HTTP or over TLS
//! with rustls, until a cancellation token fires: ferry-api's serve loop
//! (`ferry_api::serve`, the API listener's), with the registry's limits.
//! Accepted sockets get `TCP_NODELAY` (without it a response whose head
//! and body leave in two writes waits for the client's delayed ACK, ~40 ms
//! per small request).
//!
//! Every connection is held to [`ListenerLimits`]: a request head (or a TLS
//! handshake) once begun must arrive within `header_timeout`, a connection
//! with no request in flight and no byte received for `idle_timeout` is
//! closed, and at most `max_connections` are served at once — past the cap
//! new connections wait in the listen backlog until one closes (a `warn!`
//! line at most every 10 s). On shutdown in-flight requests finish, however
//! long (a large blob). A registry without accounts refuses to serve on a
//! non-loopback address ([`check_exposure`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ferry_api::ServeConfig;
use ferry_core::registry_spec::RegistrySpec;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

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

impl ListenerLimits {
    /// ferry-api's serve configuration for these limits (`tls` when given).
    fn serve_config(&self, tls: Option<TlsAcceptor>) -> ServeConfig {
        ServeConfig {
            name: "registry",
            header_read_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            // In-flight requests always finish (a push of a large blob).
            drain_timeout: Duration::MAX,
            tls,
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
/// until `shutdown`; open connections finish their requests. Each request
/// carries ferry-api's `ConnInfo` (its peer, for per-client limits such as
/// failed logins).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ListenerLimits,
    shutdown: CancellationToken,
) {
    ferry_api::serve(listener, app, limits.serve_config(tls), shutdown).await;
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
