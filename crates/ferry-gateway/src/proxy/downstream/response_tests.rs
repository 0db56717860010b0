//! Tests of response writing over a real loopback socket: framing chosen
//! per body and client version, HEAD/204 without body bytes, Date added,
//! hop-by-hop framing fields of the handler replaced, streamed bodies
//! chunked, and declared lengths the body does not keep closing the
//! connection.

use std::convert::Infallible;

use super::*;
use http::HeaderValue;
use http_body_util::{Full, StreamBody};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    (server, client)
}

fn asked(version: Version, head_only: bool) -> Asked {
    Asked {
        version,
        head_only,
        close: false,
    }
}

fn full(status: u16, body: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r
}

fn streamed(parts: &[&'static str]) -> Response<Body> {
    let frames: Vec<Result<http_body::Frame<Bytes>, Infallible>> = parts
        .iter()
        .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p.as_bytes()))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames));
    Response::new(body.map_err(|e| match e {}).boxed_unsync())
}

/// Writes `resp`, closes the server side, returns (outcome, bytes sent).
async fn send(resp: Response<Body>, asked: Asked) -> (Sent, String) {
    let (server, mut client) = pair().await;
    let (read, mut write_half) = server.into_split();
    let mut out = Vec::new();
    let sent = write(&mut write_half, &mut out, resp, None, asked)
        .await
        .unwrap();
    assert!(out.is_empty(), "the write buffer is left empty");
    drop((read, write_half));
    let mut wire = Vec::new();
    client.read_to_end(&mut wire).await.unwrap();
    (sent, String::from_utf8(wire).unwrap())
}

fn without_date(wire: &str) -> String {
    wire.lines()
        .filter(|l| !l.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn known_length_bodies_go_out_with_their_length() {
    let (sent, wire) = send(full(200, "hello"), asked(Version::HTTP_11, false)).await;
    assert_eq!(sent, Sent::KeepAlive);
    assert!(wire.contains("\r\ndate: "), "{wire}");
    assert_eq!(
        without_date(&wire),
        "HTTP/1.1 200 OK\ncontent-length: 5\n\nhello"
    );
}

#[tokio::test]
async fn streamed_bodies_are_chunked_for_http11_and_closed_for_http10() {
    let (sent, wire) = send(streamed(&["ab", "", "cde"]), asked(Version::HTTP_11, false)).await;
    assert_eq!(sent, Sent::KeepAlive);
    assert!(
        wire.ends_with("transfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
        "{wire}"
    );
    let (sent, wire) = send(streamed(&["ab", "cde"]), asked(Version::HTTP_10, false)).await;
    assert_eq!(sent, Sent::Close);
    assert!(wire.ends_with("connection: close\r\n\r\nabcde"), "{wire}");
}

#[tokio::test]
async fn http10_keep_alive_is_announced() {
    let (_, wire) = send(full(200, "x"), asked(Version::HTTP_10, false)).await;
    assert!(wire.contains("connection: keep-alive\r\n"), "{wire}");
}

#[tokio::test]
async fn head_and_no_content_carry_no_body() {
    let mut r = full(200, "");
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
    let (sent, wire) = send(r, asked(Version::HTTP_11, true)).await;
    assert_eq!(sent, Sent::KeepAlive);
    assert!(wire.contains("\r\ncontent-length: 42\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\n"), "no body bytes: {wire}");
    let (_, wire) = send(full(200, "body"), asked(Version::HTTP_11, true)).await;
    assert!(wire.ends_with("content-length: 4\r\n\r\n"), "{wire}");
    let mut r = full(204, "");
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    let (_, wire) = send(r, asked(Version::HTTP_11, false)).await;
    assert_eq!(without_date(&wire), "HTTP/1.1 204 No Content\n");
}

#[tokio::test]
async fn the_handlers_framing_fields_are_replaced() {
    let mut r = streamed(&["abc"]);
    let h = r.headers_mut();
    h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::DATE,
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    let (sent, wire) = send(r, asked(Version::HTTP_11, false)).await;
    assert_eq!(sent, Sent::KeepAlive);
    assert_eq!(
        wire,
        "HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
}

#[tokio::test]
async fn bodies_that_break_their_declared_length_close_the_connection() {
    let mut short = streamed(&["abc"]);
    short
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
    let (sent, wire) = send(short, asked(Version::HTTP_11, false)).await;
    assert_eq!(sent, Sent::Close);
    assert!(wire.contains("\r\ncontent-length: 10\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\nabc"), "{wire}");
    let mut long = streamed(&["abcdef"]);
    long.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
    let (_, wire) = send(long, asked(Version::HTTP_11, false)).await;
    assert!(wire.ends_with("\r\n\r\nab"), "{wire}");
}

#[tokio::test]
async fn a_big_body_arrives_whole() {
    let big: &'static str = Box::leak("0123456789".repeat(100_000).into_boxed_str());
    let (_, wire) = send(streamed(&[big, big]), asked(Version::HTTP_11, false)).await;
    let body = wire.split_once("\r\n\r\n").unwrap().1;
    let expected = format!("f4240\r\n{big}\r\nf4240\r\n{big}\r\n0\r\n\r\n");
    assert!(body == expected, "body of {} bytes differs", body.len());
}
