//! Tests of the request-head parser: framing per RFC 9112 §6.3 (and the
//! smuggling-shaped combinations it refuses), connection management per
//! version, Host per RFC 9112 §3.2, limits, shared (not copied) header
//! bytes, and that arbitrary bytes split anywhere never panic it and parse
//! the same as whole.

use super::*;
use proptest::prelude::*;

/// `text` with a Host field after its request line, unless it has one.
fn with_host(text: &str) -> String {
    match text.split_once("\r\n") {
        Some((line, rest)) if !text.to_ascii_lowercase().contains("\r\nhost:") => {
            format!("{line}\r\nHost: web\r\n{rest}")
        }
        _ => text.to_string(),
    }
}

fn parsed(text: &str) -> Result<Option<RequestHead>, Refused> {
    parse(&mut BytesMut::from(with_host(text).as_bytes()))
}

fn raw_status(text: &str) -> u16 {
    parse(&mut BytesMut::from(text.as_bytes()))
        .expect_err("refused")
        .0
        .as_u16()
}

fn head(text: &str) -> RequestHead {
    let mut buf = BytesMut::from(format!("{}BODY", with_host(text)).as_bytes());
    let h = parse(&mut buf).unwrap().expect("a whole head");
    assert_eq!(&buf[..], b"BODY", "the head, and only it, is consumed");
    h
}

fn status(text: &str) -> u16 {
    parsed(text).expect_err("refused").0.as_u16()
}

#[test]
fn a_simple_request() {
    let h = head("GET /a/b?c=1 HTTP/1.1\r\nHost: web\r\nX-Mixed-Case: v\r\n\r\n");
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.uri.path(), "/a/b");
    assert_eq!(h.uri.query(), Some("c=1"));
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.headers["host"], "web");
    assert_eq!(h.headers["x-mixed-case"], "v");
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive && !h.expect_continue && !h.upgrade);
}

#[test]
fn framing_follows_rfc_9112() {
    let h = head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(12));
    let h = head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.framing, Framing::None);
    let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    // Repeated equal lengths are one length.
    let h = head("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(3));
}

#[test]
fn ambiguous_framing_is_refused() {
    for text in [
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(status(text), 400, "{text:?}");
    }
}

#[test]
fn connection_management_per_version() {
    assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    assert!(head("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    let h = head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
    assert!(h.expect_continue);
    // HTTP/1.0 clients do not understand 100 Continue.
    let h = head("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(!h.expect_continue);
    let h = head("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert!(h.upgrade);
}

#[test]
fn partial_heads_wait_and_blank_lines_are_skipped() {
    assert!(parsed("").unwrap().is_none());
    assert!(parsed("GET / HTTP/1.1\r\nHost: w").unwrap().is_none());
    let mut buf = BytesMut::from(&b"\r\n\r\nGET / HTTP/1.1\r\nHost: web\r\n\r\n"[..]);
    assert!(parse(&mut buf).unwrap().is_some());
    assert!(buf.is_empty());
}

#[test]
fn limits_and_garbage() {
    assert_eq!(status("GARBAGE\r\n\r\n"), 400);
    assert_eq!(status("GET /a b HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n"), 400);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(MAX_HEAD));
    assert_eq!(status(&huge), 431);
    // Too big even before the head is complete.
    let partial = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(MAX_HEAD + 1));
    assert_eq!(status(&partial), 431);
    let many: String = (0..MAX_HEADERS + 1)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
}

#[test]
fn targets_in_every_form() {
    let h = head("GET http://web.test:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.uri.authority().unwrap().as_str(), "web.test:8080");
    assert_eq!(h.uri.path(), "/p");
    // The target's authority wins over the Host field (RFC 9112 §3.2.2).
    assert_eq!(h.headers["host"], "web.test:8080");
    let h = head("OPTIONS * HTTP/1.1\r\nHost: web\r\n\r\n");
    assert_eq!(h.uri, "*");
}

#[test]
fn host_is_required_once_in_http11() {
    assert_eq!(raw_status("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(
        raw_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        400
    );
    assert_eq!(raw_status("GET http://web.test/ HTTP/1.1\r\n\r\n"), 400);
    // HTTP/1.0 did not require it.
    let h = parse(&mut BytesMut::from(&b"GET / HTTP/1.0\r\n\r\n"[..])).unwrap();
    assert!(h.expect("a whole head").headers.get("host").is_none());
}

#[test]
fn obs_text_and_tabs_survive() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: web\r\nX-A: a\tb\xe9\r\n\r\n"[..]);
    let h = parse(&mut buf).unwrap().unwrap();
    assert_eq!(h.headers["x-a"].as_bytes(), b"a\tb\xe9");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&mut BytesMut::from(&bytes[..]));
    }

    /// A head fed in two parts parses as it does whole.
    #[test]
    fn split_heads_parse_like_whole_ones(cut in 0usize..80) {
        let text = b"POST /x?y=1 HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nX-A: 1\r\n\r\nBODY";
        let cut = cut.min(text.len());
        let mut buf = BytesMut::from(&text[..cut]);
        let first = parse(&mut buf).unwrap();
        let h = match first {
            Some(h) => h,
            None => {
                buf.extend_from_slice(&text[cut..]);
                parse(&mut buf).unwrap().expect("whole now")
            }
        };
        prop_assert_eq!(h.uri.path(), "/x");
        prop_assert_eq!(h.framing, Framing::Length(4));
        prop_assert_eq!(&h.headers["x-a"], "1");
    }
}
