//! Parsing a client's HTTP/1.1 request head, without IO: `httparse` over
//! the connection's read buffer, into `http` types whose header values and
//! request target share the buffer's bytes instead of copies, plus what the
//! connection needs to know: how the body is delimited (RFC 9112 §6.3:
//! chunked when it is the final transfer coding, else Content-Length, else
//! none; both at once, or an unknown coding, is refused, as nginx does, so
//! no request can be smuggled past a backend that frames it differently),
//! whether the connection stays open, whether the client waits for
//! `100 Continue`, and whether it asks for a protocol upgrade. Host follows
//! RFC 9112 §3.2: one per HTTP/1.1 request, replaced by the authority of an
//! absolute-form target.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::proxy::h1::codec::Spans;

/// Longest request head accepted; longer gets 431 (nginx's default for all
/// of a request's header buffers is 32 KiB; hyper's is larger).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted (hyper's default).
const MAX_HEADERS: usize = 100;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head and the facts the connection acts on.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The client allows another request on the connection afterwards.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
    /// The client asks to switch protocols (`Upgrade`, e.g. WebSocket).
    pub upgrade: bool,
}

/// A request the connection refuses: answered with this status, then closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub StatusCode);

const BAD: Refused = Refused(StatusCode::BAD_REQUEST);
const TOO_LARGE: Refused = Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

/// Parses a request head from the front of `buf` and consumes it; `None`
/// while the head is incomplete (nothing consumed). Empty lines before a
/// request line are skipped (RFC 9112 §2.2).
pub fn parse(buf: &mut BytesMut) -> Result<Option<RequestHead>, Refused> {
    let blank = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if blank > 0 {
        buf.advance(blank);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(TOO_LARGE);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(TOO_LARGE);
        }
        Err(_) => return Err(BAD),
    };
    if len > MAX_HEAD {
        return Err(TOO_LARGE);
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| BAD)?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let path = req.path.unwrap_or("");
    let (ts, tl) = (path.as_ptr() as usize - buf.as_ptr() as usize, path.len());
    let count = req.headers.len();
    let mut spans = Spans::default();
    spans.record(buf, req.headers);
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(ts..ts + tl)).map_err(|_| BAD)?;
    // Room for the fields the proxy adds (X-Forwarded-For/-Proto, Host).
    let mut headers = HeaderMap::with_capacity(count + 3);
    let mut length: Option<u64> = None;
    let mut coded = false;
    let mut chunked = false;
    let mut close = version == Version::HTTP_10;
    let mut expect_continue = false;
    let mut upgrade = false;
    let mut hosts = 0;
    for &(ns, ne, vs, ve) in spans.get() {
        let (ns, ne, vs, ve) = (ns as usize, ne as usize, vs as usize, ve as usize);
        let name = HeaderName::from_bytes(&head[ns..ne]).map_err(|_| BAD)?;
        let value = HeaderValue::from_maybe_shared(head.slice(vs..ve)).map_err(|_| BAD)?;
        if name == header::CONTENT_LENGTH {
            let n = content_length(value.as_bytes()).ok_or(BAD)?;
            if length.is_some_and(|l| l != n) {
                return Err(BAD);
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            coded = true;
            // Only the final coding says how the message ends (§6.3).
            let last = value.to_str().unwrap_or("").rsplit(',').next();
            chunked = last.is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if name == header::CONNECTION {
            for token in value.to_str().unwrap_or("").split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        } else if name == header::EXPECT {
            expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue");
        } else if name == header::UPGRADE {
            upgrade = true;
        } else if name == header::HOST {
            hosts += 1;
        }
        headers.append(name, value);
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one before);
    // an absolute-form target's authority replaces it (§3.2.2).
    if hosts > 1 || (hosts == 0 && version == Version::HTTP_11) {
        return Err(BAD);
    }
    if let Some(authority) = uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, v);
    }
    let framing = match (coded, length) {
        // Both: refused (§6.3 allows treating it as an error; a proxy must
        // not forward what two parties could read two ways).
        (true, Some(_)) => return Err(BAD),
        (true, None) if !chunked || version == Version::HTTP_10 => {
            return Err(BAD);
        }
        (true, None) => Framing::Chunked,
        (false, Some(0) | None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    Ok(Some(RequestHead {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive: !close,
        expect_continue: expect_continue && version == Version::HTTP_11,
        upgrade,
    }))
}

/// A Content-Length value: digits only (a list of equal values, which
/// RFC 9110 §8.6 allows a recipient to accept, is refused like nginx does).
fn content_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
