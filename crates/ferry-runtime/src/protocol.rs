//! Which protocol a Service port speaks, so pod-to-Service traffic that is
//! not HTTP (MQTT to a broker, a database) is forwarded as plain TCP rather
//! than parsed by the gateway's HTTP mesh handler. The rules are Istio's:
//! `appProtocol` first, then the port name's prefix (`http-web`, `tcp-db`),
//! else the first bytes the client sends are sniffed (HTTP/1 method or the
//! HTTP/2 preface), with a short timeout for server-first protocols.

use std::time::Duration;

use ferry_core::mesh::ServicePort;
use tokio::net::TcpStream;

/// How a Service port's connections are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1, HTTP/2 or gRPC: routed by the mesh handler.
    Http,
    /// Anything else: forwarded byte for byte.
    Tcp,
    /// Undeclared: sniffed per connection.
    Detect,
}

const HTTP: &[&str] = &[
    "http",
    "http2",
    "h2c",
    "grpc",
    "grpc-web",
    "kubernetes.io/h2c",
    "kubernetes.io/ws",
];
const TCP: &[&str] = &[
    "tcp",
    "tls",
    "https",
    "mqtt",
    "mongo",
    "mysql",
    "redis",
    "udp",
    "kubernetes.io/wss",
];

fn classify(p: &str) -> Option<Protocol> {
    let p = p.to_ascii_lowercase();
    if HTTP.contains(&p.as_str()) {
        Some(Protocol::Http)
    } else if TCP.contains(&p.as_str()) {
        Some(Protocol::Tcp)
    } else {
        None
    }
}

/// The protocol a Service port declares (Istio's selection rules).
pub fn protocol_of(p: &ServicePort) -> Protocol {
    if let Some(proto) = p.app_protocol.as_deref().and_then(classify) {
        return proto;
    }
    p.name
        .as_deref()
        .and_then(|n| classify(n.split('-').next().unwrap_or(n)))
        .unwrap_or(Protocol::Detect)
}

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI * HTTP/2",
];

/// Whether `prefix` (what the client sent so far) is HTTP: `Some(true)`
/// when a method token (or the HTTP/2 preface) is complete, `Some(false)`
/// when it can no longer become one, `None` when more bytes are needed.
pub fn looks_http(prefix: &[u8]) -> Option<bool> {
    let mut possible = false;
    for m in METHODS {
        let n = prefix.len().min(m.len());
        if prefix[..n] == m[..n] {
            if prefix.len() >= m.len() {
                return Some(true);
            }
            possible = true;
        }
    }
    if possible { None } else { Some(false) }
}

/// Peeks at a new connection's first bytes (without consuming them) for
/// up to 300 ms; a client that sends nothing is not HTTP.
pub async fn sniff_http(conn: &TcpStream) -> bool {
    let mut buf = [0u8; 12];
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    loop {
        let n = match tokio::time::timeout_at(deadline, conn.peek(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        match looks_http(&buf[..n]) {
            Some(v) => return v,
            None if tokio::time::Instant::now() >= deadline => return false,
            None => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: Option<&str>, app: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.map(str::to_string),
            port: 80,
            node_port: None,
            app_protocol: app.map(str::to_string),
        }
    }

    #[test]
    fn declared_protocols_follow_istio_rules() {
        assert_eq!(protocol_of(&port(Some("http"), None)), Protocol::Http);
        assert_eq!(protocol_of(&port(Some("http-web"), None)), Protocol::Http);
        assert_eq!(protocol_of(&port(Some("grpc-api"), None)), Protocol::Http);
        assert_eq!(protocol_of(&port(Some("tcp-db"), None)), Protocol::Tcp);
        assert_eq!(protocol_of(&port(Some("mqtt"), None)), Protocol::Tcp);
        assert_eq!(protocol_of(&port(Some("http"), Some("tcp"))), Protocol::Tcp);
        assert_eq!(
            protocol_of(&port(None, Some("kubernetes.io/h2c"))),
            Protocol::Http
        );
        assert_eq!(protocol_of(&port(None, None)), Protocol::Detect);
        assert_eq!(protocol_of(&port(Some("web"), None)), Protocol::Detect);
    }

    #[test]
    fn sniffing_recognises_methods_and_rejects_binary() {
        assert_eq!(looks_http(b"GET / HTTP/1.1"), Some(true));
        assert_eq!(looks_http(b"PRI * HTTP/2.0"), Some(true));
        assert_eq!(looks_http(b"PO"), None);
        assert_eq!(looks_http(b"\x10\x1b\x00\x04MQTT"), Some(false));
        assert_eq!(looks_http(b"GETX"), Some(false));
    }
}
