//! Upstream response fields passed through as the server sent them.
//!
//! Building an `http::HeaderMap` from a response head (parsing each name,
//! validating each value, hashing and inserting, then walking and dropping
//! the map after writing it out) was the largest user-space cost of a
//! proxied request. Most responses need none of it: no route operation
//! touches their fields, and the client gets them back as they came. For
//! those, the codec keeps the field lines as byte ranges of the head
//! (already validated by `httparse`), they travel next to the response
//! (whose `HeaderMap` stays empty) up to ferry's HTTP/1.1 server, which
//! writes the lines verbatim. They are not a response extension: inserting
//! one costs three allocations and a hash table per response.
//!
//! Only plain heads take this path ([`classify`]): a final status with a
//! body, at most one `Content-Length`, no `Transfer-Encoding`, a
//! `Connection` field listing nothing but `close`/`keep-alive`, and none of
//! the other hop-by-hop fields. `Connection` and `Keep-Alive` lines are
//! left out. Anything else is built into a `HeaderMap` as before. Whoever
//! reads or changes the response's fields first calls [`materialize`].

use bytes::Bytes;
use http::Response;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::codec::Span;

/// Most separate byte ranges kept (a dropped line splits a range); a head
/// needing more is built into a `HeaderMap` instead.
const MAX_RANGES: usize = 4;

/// The field lines of an upstream response head, kept as received.
#[derive(Debug, Clone)]
pub struct RawFields {
    head: Bytes,
    ranges: [(u32, u32); MAX_RANGES],
    count: usize,
    /// The lines include a `Date` field.
    pub date: bool,
    /// The `Content-Length` value the lines include, if any.
    pub length: Option<u64>,
}

/// What [`classify`] found in a plain head.
#[derive(Debug)]
pub struct Plain {
    pub fields: RawFields,
    /// `Connection: close` was present.
    pub close: bool,
    /// `Connection: keep-alive` was present.
    pub keep_alive: bool,
}

impl RawFields {
    /// The kept lines, each ending in CRLF.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges[..self.count]
            .iter()
            .map(|&(s, e)| &self.head[s as usize..e as usize])
    }

    /// Appends the kept lines to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for line in self.lines() {
            out.extend_from_slice(line);
        }
    }

    /// The kept fields, in order, as a `HeaderMap`.
    pub fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for lines in self.lines() {
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let value = line[colon + 1..].trim_ascii();
                // httparse accepted both when it parsed the head.
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(&line[..colon]),
                    HeaderValue::from_bytes(value),
                ) {
                    map.append(n, v);
                }
            }
        }
        map
    }
}

/// Moves `raw`, the pass-through fields of `resp` (if it has any), into its
/// `HeaderMap`, ahead of the fields already there.
pub fn materialize<B>(resp: &mut Response<B>, raw: Option<RawFields>) {
    let Some(raw) = raw else {
        return;
    };
    let mut map = raw.to_map();
    let added = std::mem::take(resp.headers_mut());
    let mut name = None;
    for (n, v) in added {
        // `None` repeats the previous name (HeaderMap's iteration).
        if let Some(n) = n {
            name = Some(n);
        }
        if let Some(n) = &name {
            map.append(n.clone(), v);
        }
    }
    *resp.headers_mut() = map;
}

/// Whether `name` equals the lowercase `known`, ignoring ASCII case.
fn is(name: &[u8], known: &[u8]) -> bool {
    name.len() == known.len() && name.eq_ignore_ascii_case(known)
}

/// Classifies the fields of a final response head with a body (`head` is
/// the whole head, `spans` its fields): `Some` when the head is plain
/// enough to pass through (see the module's docs).
pub fn classify(head: &Bytes, spans: &[Span]) -> Option<Plain> {
    let mut fields = RawFields {
        head: head.clone(),
        ranges: [(0, 0); MAX_RANGES],
        count: 0,
        date: false,
        length: None,
    };
    let (mut close, mut keep_alive) = (false, false);
    let mut start: Option<u32> = None;
    let mut end = 0u32;
    for &(ns, ne, vs, ve) in spans {
        let name = &head[ns as usize..ne as usize];
        let value = &head[vs as usize..ve as usize];
        // The line ends after the LF that follows the value.
        let line_end = ve + head[ve as usize..].iter().position(|&b| b == b'\n')? as u32 + 1;
        let mut keep = true;
        match name.len() {
            4 if is(name, b"date") => fields.date = true,
            10 if is(name, b"connection") => {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    } else if !token.is_empty() {
                        return None;
                    }
                }
                keep = false;
            }
            10 if is(name, b"keep-alive") => keep = false,
            14 if is(name, b"content-length") => {
                let digits = value.trim_ascii();
                if fields.length.is_some()
                    || digits.is_empty()
                    || !digits.iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                fields.length = Some(std::str::from_utf8(digits).ok()?.parse().ok()?);
            }
            2 if is(name, b"te") => return None,
            7 if is(name, b"trailer") || is(name, b"upgrade") => return None,
            16 if is(name, b"proxy-connection") => return None,
            17 if is(name, b"transfer-encoding") => return None,
            18 if is(name, b"proxy-authenticate") => return None,
            19 if is(name, b"proxy-authorization") => return None,
            _ => {}
        }
        if keep {
            if start.is_none() {
                start = Some(ns);
            }
            end = line_end;
        } else if let Some(s) = start.take() {
            push(&mut fields, s, end)?;
        }
    }
    if let Some(s) = start {
        push(&mut fields, s, end)?;
    }
    Some(Plain {
        fields,
        close,
        keep_alive,
    })
}

fn push(fields: &mut RawFields, start: u32, end: u32) -> Option<()> {
    let slot = fields.ranges.get_mut(fields.count)?;
    *slot = (start, end);
    fields.count += 1;
    Some(())
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
