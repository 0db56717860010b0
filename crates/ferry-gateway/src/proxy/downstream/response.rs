//! Writing a response to an HTTP/1.1 client: the head (status line, an
//! upstream's pass-through field lines, the handler's fields, `Date` when
//! missing, ferry's own framing and
//! connection fields) and the body, framed by its Content-Length (declared,
//! or known from the body), else chunked for HTTP/1.1 clients, else by
//! closing the connection (HTTP/1.0). Body frames that are already there
//! go out with the head in one write; the writer waits on the body only
//! after flushing what it has. No body is sent for HEAD, 1xx, 204 and 304.

use std::io::{self, Write as _};

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http::header::{self, HeaderMap};
use http::{Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::io::write_date;
use crate::proxy::h1::fields::RawFields;
use crate::proxy::types::Body;

/// Frames bigger than this are written from their own buffer (vectored
/// with what is pending) instead of being copied.
const COPY_LIMIT: usize = 4 * 1024;
/// Pending bytes are written once they reach this much.
const FLUSH_AT: usize = 64 * 1024;

/// What the request asked for that shapes the response.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    pub version: Version,
    pub head_only: bool,
    /// The connection closes after this response.
    pub close: bool,
}

/// How the response went out.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Fully written; the connection may carry another request.
    KeepAlive,
    /// Written; the connection must close.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Eof,
}

/// Encodes the status line and header fields into `out`; returns how the
/// body is framed. `close` is set when the framing needs the connection to
/// end the body.
fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    raw: Option<&RawFields>,
    body_len: Option<u64>,
    asked: Asked,
    close: &mut bool,
) -> Framing {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let upgrade = status == StatusCode::SWITCHING_PROTOCOLS;
    let mut declared: Option<u64> = None;
    let mut has_date = false;
    if let Some(raw) = raw {
        // An upstream's plain fields, as received (no framing or
        // connection fields among them but one Content-Length).
        raw.write_to(out);
        has_date = raw.date;
        declared = raw.length.filter(|_| !bodiless);
    }
    for (name, value) in headers {
        if *name == header::CONTENT_LENGTH {
            if bodiless {
                continue;
            }
            let n = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| v.trim().parse().ok());
            // Invalid or repeated: ferry frames the body itself.
            if n.is_none() || declared.is_some() {
                continue;
            }
            declared = n;
        } else if *name == header::TRANSFER_ENCODING || (!upgrade && *name == header::CONNECTION) {
            continue;
        } else if *name == header::DATE {
            has_date = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        write_date(out);
        out.extend_from_slice(b"\r\n");
    }
    let framing = if bodiless {
        Framing::None
    } else if let Some(n) = declared {
        Framing::Length(n)
    } else if let Some(n) = body_len {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "content-length: {n}\r\n");
        Framing::Length(n)
    } else if asked.head_only {
        Framing::None
    } else if asked.version == Version::HTTP_11 {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Framing::Chunked
    } else {
        *close = true;
        Framing::Eof
    };
    if upgrade {
        // The handler's Connection/Upgrade fields went out above.
    } else if *close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if asked.version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if asked.head_only {
        Framing::None
    } else {
        framing
    }
}

/// Writes `resp` (with `raw`, an upstream's pass-through fields, ahead of
/// its own) to `stream`, using `out` as the write buffer (left empty).
pub async fn write(
    stream: &mut OwnedWriteHalf,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    raw: Option<&RawFields>,
    asked: Asked,
) -> io::Result<Sent> {
    let (parts, mut body) = resp.into_parts();
    let mut close = asked.close;
    let framing = encode_head(
        out,
        parts.status,
        &parts.headers,
        raw,
        body.size_hint().exact(),
        asked,
        &mut close,
    );
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    if framing != Framing::None {
        loop {
            if matches!(framing, Framing::Length(_)) && left == 0 {
                break;
            }
            // What the body has ready goes out with what is pending.
            let frame = match body.frame().now_or_never() {
                Some(f) => f,
                None => {
                    flush(stream, out, &[]).await?;
                    body.frame().await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(_)) => {
                    // The upstream failed mid-body: the client can only
                    // learn it from the connection ending early.
                    flush(stream, out, &[]).await?;
                    return Ok(Sent::Close);
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(d) if !d.is_empty() => d,
                    _ => continue, // trailers are not forwarded
                },
            };
            let data = if data.len() as u64 > left {
                // More than declared: send what was declared, then close.
                close = true;
                data.slice(..left as usize)
            } else {
                data
            };
            left = left.saturating_sub(data.len() as u64);
            put_data(stream, out, framing, data).await?;
        }
        match framing {
            Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
            Framing::Length(_) if left > 0 => close = true, // body ended short
            _ => {}
        }
    }
    flush(stream, out, &[]).await?;
    Ok(if close { Sent::Close } else { Sent::KeepAlive })
}

/// Queues (or writes) one data frame with its chunk framing.
async fn put_data(
    stream: &mut OwnedWriteHalf,
    out: &mut Vec<u8>,
    framing: Framing,
    data: Bytes,
) -> io::Result<()> {
    if framing == Framing::Chunked {
        let _ = write!(out, "{:x}\r\n", data.len());
    }
    if data.len() <= COPY_LIMIT {
        out.extend_from_slice(&data);
    } else {
        flush(stream, out, &data).await?;
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"\r\n");
    }
    if out.len() >= FLUSH_AT {
        flush(stream, out, &[]).await?;
    }
    Ok(())
}

/// Writes what is pending in `out`, then `more`; `out` is left empty.
async fn flush(stream: &mut OwnedWriteHalf, out: &mut Vec<u8>, more: &[u8]) -> io::Result<()> {
    if out.is_empty() && more.is_empty() {
        return Ok(());
    }
    // Vectored: the pending bytes and `more` in one call.
    stream.write_all_buf(&mut (&out[..]).chain(more)).await?;
    out.clear();
    Ok(())
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
