//! The HTTP/1.1 upstream exchange run inline in the request's own task:
//! check an idle keep-alive connection out of the pool (or dial one), write
//! the head and buffered body, read the response head, and hand back the
//! body — whole when it has already arrived (the connection goes straight
//! back to the pool), else streamed from the socket by [`body::Upstream`].
//!
//! This is the common path of a proxied request. hyper's pooling client
//! costs a connection task per upstream connection, two channels and two
//! task wake-ups per request; here the request's task does the IO itself.
//! Requests with streamed bodies, upgrades and HTTP/2 still use hyper
//! (`client::Clients`).

mod body;
pub(crate) mod codec;
pub(crate) mod decode;
pub(crate) mod fields;
mod pool;

pub use pool::{Pool, Slot};

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{Method, Response};
use http_body_util::{BodyExt, Empty, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::Connector;
use super::types::{Body, Head};
use codec::{Framing, Parsed};
use fields::RawFields;

/// Request bodies up to this size are written with the head in one call.
const COALESCE: usize = 16 * 1024;

/// Why an exchange failed.
#[derive(Debug)]
pub enum Error {
    /// No connection could be made.
    Connect(io::Error),
    /// The connection failed or the response was not valid HTTP/1.1.
    Reset(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "connect: {e}"),
            Error::Reset(e) => write!(f, "exchange: {e}"),
        }
    }
}

/// An open upstream connection and the bytes read from it but not used yet.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

/// Sends `head` with `body` to `authority` and reads the response head.
/// A reused connection the server closed meanwhile is replaced by a new
/// one when nothing was answered on it and the request is idempotent
/// (RFC 9110 §9.2.2), or when the request could not even be written.
pub async fn exchange(
    connector: &Connector,
    slot: &Arc<Slot>,
    head: &Head,
    body: Bytes,
) -> Result<(Response<Body>, Option<RawFields>), Error> {
    let mut wire = Vec::with_capacity(512 + body.len().min(COALESCE));
    codec::encode_request(
        &mut wire,
        &head.method,
        &head.path_and_query,
        &head.headers,
        body.len(),
    );
    let separate_body = body.len() > COALESCE;
    if !separate_body {
        wire.extend_from_slice(&body);
    }
    let idempotent = matches!(
        head.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    );
    let mut pooled = slot.checkout();
    loop {
        let reused = pooled.is_some();
        let mut conn = match pooled.take() {
            Some(c) => c,
            None => Conn {
                stream: connector
                    .connect(slot.authority.as_str())
                    .await
                    .map_err(Error::Connect)?,
                buf: BytesMut::new(),
            },
        };
        let written = async {
            conn.stream.write_all(&wire).await?;
            if separate_body {
                conn.stream.write_all(&body).await?;
            }
            io::Result::Ok(())
        }
        .await;
        if let Err(e) = written {
            if reused {
                continue;
            }
            return Err(Error::Reset(e));
        }
        match read_head(&mut conn, &head.method).await {
            Ok(parsed) => return Ok(respond(slot, conn, parsed)),
            Err(e) if reused && idempotent && conn.buf.is_empty() && resettish(&e) => continue,
            Err(e) => return Err(Error::Reset(e)),
        }
    }
}

/// The response, its body whole when it is all here (the connection goes
/// back to the pool at once), else streamed; and its pass-through fields.
fn respond(
    slot: &Arc<Slot>,
    mut conn: Conn,
    head: codec::ResponseHead,
) -> (Response<Body>, Option<RawFields>) {
    let body = match head.framing {
        Framing::Empty => {
            slot.release(conn, head.keep_alive);
            Empty::new().map_err(|e| match e {}).boxed_unsync()
        }
        Framing::Length(n) if conn.buf.len() as u64 >= n => {
            let bytes = conn.buf.split_to(n as usize).freeze();
            slot.release(conn, head.keep_alive);
            Full::new(bytes).map_err(|e| match e {}).boxed_unsync()
        }
        framing => body::Upstream::new(slot.clone(), conn, framing, head.keep_alive).boxed_unsync(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = head.status;
    *resp.version_mut() = head.version;
    *resp.headers_mut() = head.headers;
    (resp, head.raw)
}

/// Reads until a final response head is parsed, skipping interim ones.
async fn read_head(conn: &mut Conn, method: &Method) -> io::Result<codec::ResponseHead> {
    loop {
        if !conn.buf.is_empty() {
            match codec::parse_response(&mut conn.buf, method)? {
                Parsed::Head(head) => return Ok(head),
                Parsed::Interim => continue,
                Parsed::Partial => {}
            }
        }
        conn.buf.reserve(4 * 1024);
        if conn.stream.read_buf(&mut conn.buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed the connection before a full response head",
            ));
        }
    }
}

/// Whether an error means the server dropped the connection (as an idle
/// keep-alive connection may be dropped while a request is on its way).
fn resettish(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
