//! Pass-through fields: which heads are plain, what lines are kept, and
//! that materialising gives the map the codec would have built.

use bytes::BytesMut;
use http::header::HeaderValue;
use http::{Method, Response};

use super::super::codec::{Framing, Parsed, ResponseHead, parse_response};
use super::*;

fn parse(head: &str, method: &Method) -> ResponseHead {
    let mut buf = BytesMut::from(head.as_bytes());
    match parse_response(&mut buf, method).expect("valid head") {
        Parsed::Head(h) => h,
        other => panic!("not a final head: {other:?}"),
    }
}

fn lines(raw: &RawFields) -> String {
    let mut out = Vec::new();
    raw.write_to(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn a_plain_head_keeps_its_lines_without_connection_fields() {
    let h = parse(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\n\
         Connection: keep-alive\r\nContent-Type:  text/plain \r\nKeep-Alive: timeout=5\r\n\
         Content-Length: 3\r\nX-Trace: a\r\n\r\nv1\n",
        &Method::GET,
    );
    assert!(h.headers.is_empty(), "no map is built");
    let raw = h.raw.expect("plain");
    assert_eq!(
        lines(&raw),
        "Server: nginx\r\nDate: Sun, 22 Nov 2026 10:00:00 GMT\r\n\
         Content-Type:  text/plain \r\nContent-Length: 3\r\nX-Trace: a\r\n"
    );
    assert!(raw.date);
    assert_eq!(raw.length, Some(3));
    assert_eq!(h.framing, Framing::Length(3));
    assert!(h.keep_alive);

    let map = raw.to_map();
    let names: Vec<&str> = map.keys().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "server",
            "date",
            "content-type",
            "content-length",
            "x-trace"
        ]
    );
    assert_eq!(map["content-type"], "text/plain", "OWS trimmed");
}

#[test]
fn connection_and_version_decide_reuse() {
    let close = parse(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        &Method::GET,
    );
    assert!(close.raw.is_some());
    assert!(!close.keep_alive);
    let old = parse(
        "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
        &Method::GET,
    );
    assert!(!old.keep_alive, "HTTP/1.0 closes by default");
    let old_kept = parse(
        "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
        &Method::GET,
    );
    assert!(old_kept.keep_alive);
    let until_close = parse("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", &Method::GET);
    assert_eq!(until_close.framing, Framing::Eof);
    assert!(!until_close.keep_alive);
    let head = parse(
        "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
        &Method::HEAD,
    );
    assert_eq!(head.framing, Framing::Empty);
    assert_eq!(head.raw.expect("plain").length, Some(50));
}

#[test]
fn heads_that_are_not_plain_build_a_map() {
    for head in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTrailer: x\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nProxy-Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nServer: x\r\n\r\n",
        // More gaps than ranges kept.
        "HTTP/1.1 200 OK\r\nA: 1\r\nKeep-Alive: 1\r\nB: 1\r\nKeep-Alive: 1\r\nC: 1\r\n\
         Keep-Alive: 1\r\nD: 1\r\nKeep-Alive: 1\r\nE: 1\r\nContent-Length: 0\r\n\r\n",
    ] {
        let h = parse(head, &Method::GET);
        assert!(h.raw.is_none(), "{head:?}");
        assert!(!h.headers.is_empty(), "{head:?}");
    }
}

#[test]
fn a_head_without_fields_passes_through_empty() {
    let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &Method::GET);
    let raw = h.raw.expect("plain");
    assert_eq!(lines(&raw), "Content-Length: 0\r\n");
    let h = parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &Method::GET);
    assert_eq!(lines(&h.raw.expect("plain")), "");
}

#[test]
fn materialize_puts_the_upstream_fields_first() {
    let h = parse(
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
        &Method::GET,
    );
    let mut resp = Response::new(());
    resp.headers_mut()
        .append("x-added", HeaderValue::from_static("1"));
    resp.headers_mut()
        .append("x-added", HeaderValue::from_static("2"));
    materialize(&mut resp, h.raw);
    let all: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let want = [
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("content-length", "0"),
        ("x-added", "1"),
        ("x-added", "2"),
    ];
    assert_eq!(all.len(), want.len(), "{all:?}");
    for (name, value) in want {
        assert!(
            all.iter().any(|(n, v)| n == name && v == value),
            "{name}: {value} in {all:?}"
        );
    }
    // Without pass-through fields it changes nothing.
    let before = resp.headers().clone();
    materialize(&mut resp, None);
    assert_eq!(resp.headers(), &before);
}

proptest::proptest! {
    /// For any plain head, the materialised map equals the one the codec
    /// builds when the same fields cannot pass through (a Trailer field
    /// forces that path), minus that field.
    #[test]
    fn materialized_equals_the_built_map(
        fields in proptest::collection::vec(("[a-z][a-z0-9-]{0,12}", "[ -~]{0,20}"), 0..8)
    ) {
        let mut plain = String::from("HTTP/1.1 200 OK\r\n");
        for (n, v) in &fields {
            if matches!(n.as_str(), "connection" | "keep-alive" | "content-length" | "te"
                | "trailer" | "upgrade" | "transfer-encoding" | "proxy-connection"
                | "proxy-authenticate" | "proxy-authorization") {
                continue;
            }
            plain.push_str(&format!("{n}: {v}\r\n"));
        }
        let built = plain.replacen("\r\n", "\r\nTrailer: x\r\n", 1);
        let a = parse(&(plain + "Content-Length: 0\r\n\r\n"), &Method::GET);
        let b = parse(&(built + "Content-Length: 0\r\n\r\n"), &Method::GET);
        let a = a.raw.expect("plain").to_map();
        let mut b = b.headers;
        b.remove("trailer");
        proptest::prop_assert_eq!(a, b);
    }
}
