//! The HTTP/1.1 wire format of an upstream exchange, without IO: encoding
//! a request head (RFC 9112 §3, with the body's Content-Length), parsing a
//! response head with `httparse` into `http` types plus its framing (§6.3:
//! no body for HEAD, 1xx, 204 and 304; chunked when it is the final
//! transfer coding; else Content-Length; else until the server closes),
//! and decoding a chunked body incrementally. A plain response head keeps
//! its fields as received instead of building a `HeaderMap` (`fields`).

use std::io::{self, Write as _};
use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, StatusCode, Version};

use super::fields::{self, RawFields};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Longest response head accepted (hyper's default buffer is larger, but a
/// backend sending more than 64 KiB of headers is broken).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most response header fields accepted (hyper's default).
const MAX_HEADERS: usize = 100;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Writes the request head for `body_len` bytes of body. Framing and
/// connection-management fields of `headers` are replaced by ferry's own
/// (`Content-Length` of the buffered body; keep-alive is HTTP/1.1's default);
/// `Expect` is dropped because the body is already here.
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    path_and_query: &PathAndQuery,
    headers: &HeaderMap,
    body_len: usize,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_str().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::EXPECT
            || name == header::CONNECTION
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "content-length: {body_len}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    Eof,
}

/// A parsed final response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// Empty when `raw` holds the fields.
    pub headers: HeaderMap,
    /// The fields as received, for a plain head (see `fields`).
    pub raw: Option<RawFields>,
    pub framing: Framing,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// What the bytes read so far hold.
// The head is matched at once by its only caller: boxing it would cost an
// allocation per response for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet (nothing consumed).
    Partial,
    /// An interim (1xx) response, consumed; the final one follows.
    Interim,
    /// A final response head, consumed.
    Head(ResponseHead),
}

/// Where one header field's name and value lie in the head (the read
/// buffer never grows far past [`MAX_HEAD`] before a head completes, so
/// offsets fit in `u32`).
pub type Span = (u32, u32, u32, u32);

/// Header spans of one head: on the stack for the usual handful of fields
/// (a full-size array would cost more to zero than the parse itself).
#[derive(Default)]
pub struct Spans {
    small: [Span; 16],
    count: usize,
    large: Vec<Span>,
}

impl Spans {
    /// Records where `headers`, parsed from `buf`, lie in it.
    pub fn record(&mut self, buf: &[u8], headers: &[httparse::Header<'_>]) {
        let base = buf.as_ptr() as usize;
        let offset = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        let span = |h: &httparse::Header<'_>| {
            let (n, v) = (offset(h.name.as_bytes()), offset(h.value));
            (n, n + h.name.len() as u32, v, v + h.value.len() as u32)
        };
        self.count = headers.len();
        if headers.len() <= self.small.len() {
            for (slot, h) in self.small.iter_mut().zip(headers) {
                *slot = span(h);
            }
        } else {
            self.large = headers.iter().map(span).collect();
        }
    }

    pub fn get(&self) -> &[Span] {
        if self.count <= self.small.len() {
            &self.small[..self.count]
        } else {
            &self.large
        }
    }
}

/// Parses a response head from the start of `buf` (the response to a
/// request with `method`) and consumes it. Header values share the head's
/// bytes instead of being copied.
pub fn parse_response(buf: &mut BytesMut, method: &Method) -> io::Result<Parsed> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let len = match config.parse_response_with_uninit_headers(&mut resp, buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(invalid("response head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(invalid(&format!("invalid response head: {e}"))),
    };
    let code = resp.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| invalid("invalid status code"))?;
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // Only upgrade requests may be switched, and they go through hyper.
            return Err(invalid("unexpected 101 Switching Protocols"));
        }
        buf.advance(len);
        return Ok(Parsed::Interim);
    }
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut spans = Spans::default();
    spans.record(buf, resp.headers);
    let head = buf.split_to(len).freeze();
    let bodiless = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut headers = HeaderMap::new();
    let mut raw = None;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut coded = false;
    let mut close = version == Version::HTTP_10;
    let plain = if bodiless {
        None
    } else {
        fields::classify(&head, spans.get())
    };
    if let Some(plain) = plain {
        // Passed through as received: no map (see `fields`).
        length = plain.fields.length;
        close = plain.close || (close && !plain.keep_alive);
        raw = Some(plain.fields);
    } else {
        headers.reserve(spans.get().len());
        // The Connection field lists other fields (rare): kept for the
        // handler to strip them by it.
        let mut listed = false;
        for &(ns, ne, vs, ve) in spans.get() {
            let (ns, ne, vs, ve) = (ns as usize, ne as usize, vs as usize, ve as usize);
            let name = HeaderName::from_bytes(&head[ns..ne])
                .map_err(|_| invalid("invalid header name"))?;
            let value = HeaderValue::from_maybe_shared(head.slice(vs..ve))
                .map_err(|_| invalid("invalid header value"))?;
            if name == header::CONTENT_LENGTH {
                let n = value
                    .to_str()
                    .ok()
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| invalid("invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(invalid("conflicting Content-Length values"));
                }
                length = Some(n);
            } else if name == header::TRANSFER_ENCODING {
                coded = true;
                // Only the final coding matters: chunked must be last (RFC 9112 §6.3).
                let last = value
                    .to_str()
                    .unwrap_or("")
                    .rsplit(',')
                    .next()
                    .unwrap_or("");
                chunked = last.trim().eq_ignore_ascii_case("chunked");
            } else if name == header::CONNECTION {
                for token in value.to_str().unwrap_or("").split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        close &= version != Version::HTTP_10;
                    } else if !token.is_empty() {
                        listed = true;
                    }
                }
                if !listed {
                    // Hop-by-hop, and nothing else to strip by it: not kept
                    // (the handler's stripping then finds nothing to remove).
                    continue;
                }
            } else if name == KEEP_ALIVE {
                continue;
            }
            headers.append(name, value);
        }
    }
    let framing = if *method == Method::HEAD || bodiless {
        Framing::Empty
    } else if coded {
        if chunked {
            Framing::Chunked
        } else {
            Framing::Eof
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Eof,
        }
    };
    Ok(Parsed::Head(ResponseHead {
        status,
        version,
        headers,
        raw,
        framing,
        keep_alive: !close && framing != Framing::Eof,
    }))
}

/// One step of chunked decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no further complete element; read more.
    NeedMore,
    /// The last chunk and the trailer section are consumed.
    Done,
}

/// An incremental chunked-body decoder (trailer fields are consumed and
/// dropped: a downstream HTTP/1.1 client cannot be assumed to accept them).
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl Chunked {
    /// Decodes from the front of `buf`, consuming what it decodes.
    pub fn step(&mut self, buf: &mut BytesMut) -> io::Result<Step> {
        loop {
            match self.state {
                State::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                        return Err(invalid("chunk size line too long"));
                    }
                    Ok(httparse::Status::Partial) => return Ok(Step::NeedMore),
                    Err(_) => return Err(invalid("invalid chunk size")),
                },
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = left.min(buf.len() as u64);
                    let data = buf.split_to(take as usize).freeze();
                    self.state = match left - take {
                        0 => State::DataEnd,
                        rest => State::Data(rest),
                    };
                    return Ok(Step::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(invalid("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(end) => buf.advance(end + 2),
                    None if buf.len() > MAX_HEAD => {
                        return Err(invalid("trailer section too large"));
                    }
                    None => return Ok(Step::NeedMore),
                },
                State::Done => return Ok(Step::Done),
            }
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
