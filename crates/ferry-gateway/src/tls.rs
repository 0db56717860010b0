//! TLS for the north-south listener: certificates come from Kubernetes TLS
//! Secrets named by Ingress `tls`, Istio Gateway `credentialName` and
//! Gateway API `certificateRefs`, are chosen by SNI (most specific host
//! pattern), and negotiate HTTP/2 or HTTP/1.1 by ALPN. Secrets are read
//! through a [`SecretSource`] (the runtime's object store in a region).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::Value;

use crate::Error;
use crate::table::{HostPattern, TlsRef};

/// Looks up a Secret object (`kind: Secret`) by namespace and name.
pub trait SecretSource: Send + Sync + fmt::Debug {
    fn secret(&self, namespace: &str, name: &str) -> Option<Value>;
}

/// A [`SecretSource`] from a closure.
pub struct FnSecrets<F>(pub F);

impl<F> fmt::Debug for FnSecrets<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnSecrets")
    }
}

impl<F: Fn(&str, &str) -> Option<Value> + Send + Sync> SecretSource for FnSecrets<F> {
    fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        (self.0)(namespace, name)
    }
}

/// `tls.crt` and `tls.key` of a Secret (`data` is base64, `stringData` plain).
pub fn pem_pair(secret: &Value) -> Option<(Vec<u8>, Vec<u8>)> {
    let field = |k: &str| -> Option<Vec<u8>> {
        if let Some(s) = secret
            .pointer("/stringData")
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
        {
            return Some(s.as_bytes().to_vec());
        }
        let b = secret
            .pointer("/data")
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)?;
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
    };
    Some((field("tls.crt")?, field("tls.key")?))
}

fn certified(cert: &[u8], key: &[u8]) -> Result<CertifiedKey, Error> {
    let bad = |field, reason: &dyn fmt::Display| Error::TlsSecret {
        field,
        reason: reason.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| bad("tls.crt", &e))?;
    if chain.is_empty() {
        return Err(bad("tls.crt", &"holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("tls.key", &e))?;
    let signer = any_supported_type(&key).map_err(|e| bad("tls.key", &e))?;
    Ok(CertifiedKey::new(chain, signer))
}

/// Picks a certificate by SNI: exact host, then longest wildcard, then `*`.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<(HostPattern, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(|s| s.to_ascii_lowercase());
        match name {
            Some(n) => self
                .certs
                .iter()
                .find(|(p, _)| p.matches(&n))
                .map(|(_, k)| k.clone()),
            None => self.certs.first().map(|(_, k)| k.clone()),
        }
    }
}

/// Builds the server TLS config for `refs`, or `None` when there are no
/// usable certificates. Unusable Secrets are logged and skipped.
pub fn server_config(
    refs: &[TlsRef],
    source: &dyn SecretSource,
) -> Option<Arc<rustls::ServerConfig>> {
    let mut certs = Vec::new();
    for r in refs {
        let Some(secret) = source.secret(&r.namespace, &r.secret) else {
            tracing::warn!(secret = %format!("{}/{}", r.namespace, r.secret), host = %r.host, origin = %r.origin, "TLS secret not found; host served without it");
            continue;
        };
        let loaded = pem_pair(&secret)
            .ok_or_else(|| Error::TlsSecret {
                field: "tls.crt/tls.key",
                reason: "missing from the secret's data and stringData".into(),
            })
            .and_then(|(c, k)| certified(&c, &k));
        match loaded {
            Ok(k) => certs.push((r.host.clone(), Arc::new(k))),
            Err(e) => {
                tracing::warn!(secret = %format!("{}/{}", r.namespace, r.secret), origin = %r.origin, error = %e, "unusable TLS secret")
            }
        }
    }
    if certs.is_empty() {
        return None;
    }
    certs.sort_by_key(|(h, _)| std::cmp::Reverse(h.specificity()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certs }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Some(Arc::new(cfg))
}
