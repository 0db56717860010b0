//! Tests of the HTTP/1.1 codec: request encoding, response framing per
//! RFC 9112 §6.3, and chunked decoding split at every possible point.

use super::*;
use proptest::prelude::*;

fn parse(text: &[u8], method: &Method) -> io::Result<(Parsed, BytesMut)> {
    let mut buf = BytesMut::from(text);
    parse_response(&mut buf, method).map(|p| (p, buf))
}

/// The parsed head, with pass-through fields (if any) moved into `headers`.
fn head(text: &str, method: &Method) -> ResponseHead {
    let body = "BODY";
    match parse(format!("{text}{body}").as_bytes(), method).unwrap() {
        (Parsed::Head(mut h), rest) => {
            assert_eq!(
                &rest[..],
                body.as_bytes(),
                "the head, and only it, is consumed"
            );
            if let Some(raw) = h.raw.take() {
                assert!(h.headers.is_empty());
                h.headers = raw.to_map();
            }
            h
        }
        other => panic!("not a head: {other:?}"),
    }
}

#[test]
fn requests_carry_ferry_framing_not_the_clients() {
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static("web"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    h.append("x-a", HeaderValue::from_static("1"));
    h.append("x-a", HeaderValue::from_static("2"));
    let mut out = Vec::new();
    let pq = PathAndQuery::from_static("/p?q=1");
    encode_request(&mut out, &Method::POST, &pq, &h, 3);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /p?q=1 HTTP/1.1\r\nhost: web\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 3\r\n\r\n"
    );
    let mut out = Vec::new();
    encode_request(&mut out, &Method::GET, &pq, &HeaderMap::new(), 0);
    assert_eq!(out, b"GET /p?q=1 HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    encode_request(&mut out, &Method::PUT, &pq, &HeaderMap::new(), 0);
    assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
}

#[test]
fn framing_follows_rfc_9112() {
    let get = Method::GET;
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &get);
    assert_eq!((h.framing, h.keep_alive), (Framing::Length(5), true));
    let h = head(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        &Method::HEAD,
    );
    assert_eq!(h.framing, Framing::Empty);
    assert_eq!(h.headers[header::CONTENT_LENGTH], "5");
    let h = head("HTTP/1.1 204 No Content\r\n\r\n", &get);
    assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
    let h = head(
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
        &get,
    );
    assert_eq!(h.framing, Framing::Empty);
    let h = head(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        &get,
    );
    assert_eq!(h.framing, Framing::Chunked);
    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &get);
    assert_eq!((h.framing, h.keep_alive), (Framing::Eof, false));
    let h = head("HTTP/1.1 200 OK\r\n\r\n", &get);
    assert_eq!((h.framing, h.keep_alive), (Framing::Eof, false));
    let h = head(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        &get,
    );
    assert_eq!((h.framing, h.keep_alive), (Framing::Empty, false));
    let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", &get);
    assert!(!h.keep_alive);
    assert_eq!(h.version, Version::HTTP_10);
    let h = head(
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
        &get,
    );
    assert!(h.keep_alive);
    let h = head(
        "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
        &get,
    );
    assert_eq!(h.framing, Framing::Length(7));
}

#[test]
fn interim_partial_and_invalid_heads() {
    let get = Method::GET;
    let (r, rest) = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", &get).unwrap();
    assert!(matches!(r, Parsed::Interim));
    assert_eq!(&rest[..], b"HTTP/1.1 200");
    let (r, rest) = parse(b"HTTP/1.1 200 OK\r\nContent-Le", &get).unwrap();
    assert!(matches!(r, Parsed::Partial));
    assert_eq!(rest.len(), 27);
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
    ] {
        assert!(parse(bad.as_bytes(), &get).is_err(), "{bad}");
    }
    let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
    assert!(parse(huge.as_bytes(), &get).is_err());
}

const CHUNKED: &[u8] =
    b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: yes\r\n\r\nNEXT";

/// Decodes `wire` fed in pieces cut at `cuts`; returns the body and what is left.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut d = Chunked::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    for p in points {
        buf.extend_from_slice(&wire[fed..p.max(fed)]);
        fed = p.max(fed);
        loop {
            match d.step(&mut buf)? {
                Step::Data(b) => body.extend_from_slice(&b),
                Step::NeedMore => break,
                Step::Done => return Ok((body, [&buf[..], &wire[fed..]].concat())),
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "incomplete"))
}

#[test]
fn chunked_bodies_decode_and_stop_at_their_end() {
    let (body, rest) = decode_in_pieces(CHUNKED, &[]).unwrap();
    assert_eq!(body, b"hello world");
    assert_eq!(rest, b"NEXT");
    assert!(decode_in_pieces(b"5\r\nhelloXX0\r\n\r\n", &[]).is_err());
    assert!(decode_in_pieces(b"zz\r\n", &[]).is_err());
    assert!(decode_in_pieces(b"5\r\nhel", &[]).is_err());
}

proptest! {
    #[test]
    fn chunked_decoding_does_not_depend_on_how_bytes_arrive(
        cuts in proptest::collection::vec(0usize..200, 0..12)
    ) {
        let (body, rest) = decode_in_pieces(CHUNKED, &cuts).unwrap();
        prop_assert_eq!(body, b"hello world".to_vec());
        prop_assert_eq!(rest, b"NEXT".to_vec());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parsers(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&data, &Method::GET);
        let _ = decode_in_pieces(&data, &[7, 31]);
    }
}

#[test]
fn connection_management_fields_are_not_kept_unless_they_list_others() {
    let get = Method::GET;
    let h = head(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 4\r\n\r\n",
        &get,
    );
    assert!(h.keep_alive);
    assert!(!h.headers.contains_key(header::CONNECTION));
    assert!(!h.headers.contains_key("keep-alive"));
    // A listed field stays with the Connection value, for the handler to strip.
    let h = head(
        "HTTP/1.1 200 OK\r\nConnection: x-private\r\nX-Private: 1\r\nContent-Length: 4\r\n\r\n",
        &get,
    );
    assert_eq!(h.headers[header::CONNECTION], "x-private");
    let h = head(
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\n",
        &get,
    );
    assert!(h.keep_alive);
}
