//! Types every part of the proxy shares: the body type of both sides, the
//! facts about a downstream connection its requests see, and the request
//! head and body sent upstream. They live here, not in the file that used
//! them first, so the servers, the handler and the clients depend on this
//! file instead of on each other.

use std::net::SocketAddr;

use bytes::Bytes;
use ferry_core::mesh::{ServiceKey, SourcePod};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method};
use http_body_util::combinators::UnsyncBoxBody;

/// Boxed error of bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type used on both sides of the proxy.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

// === downstream connections ===

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

/// One downstream connection as its requests see it.
#[derive(Debug)]
pub struct ConnState {
    pub info: ConnInfo,
    /// The client's address as an `X-Forwarded-For` element, formatted once.
    pub client_ip: http::HeaderValue,
}

impl ConnState {
    pub fn new(info: ConnInfo) -> Self {
        let client_ip = http::HeaderValue::try_from(info.remote.ip().to_string())
            .expect("an IP address is a valid header value");
        Self { info, client_ip }
    }
}

impl std::ops::Deref for ConnState {
    type Target = ConnInfo;

    fn deref(&self) -> &ConnInfo {
        &self.info
    }
}

// === upstream requests ===

/// A request head to send (possibly several times).
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    pub path_and_query: PathAndQuery,
    pub headers: HeaderMap,
    pub grpc: bool,
}

/// The request body: replayable bytes, or a stream usable once.
#[derive(Debug)]
pub enum ReqBody {
    Buffered(Bytes),
    Stream(Option<Body>),
}
