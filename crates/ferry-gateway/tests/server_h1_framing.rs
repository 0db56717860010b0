//! How the gateway's client-facing HTTP/1.1 server frames responses, seen
//! from raw TCP clients: HEAD keeps the backend's Content-Length without a
//! body, a 204 carries no body, a chunked backend response reaches an
//! HTTP/1.1 client chunked (or with a length) and an HTTP/1.0 client with
//! a length or delimited by the close, a 1 MiB body survives a slow reader,
//! local answers carry Date and Content-Length, and 50 pipelined requests
//! are answered in order. The backend is the scripted raw-TCP one from
//! `common::raw`; request handling is in `server_h1.rs`.

mod common;

use std::time::Duration;

use common::raw::*;
use common::wire::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts nothing is left unread on a keep-alive connection.
fn assert_no_stray_bytes(w: &Wire) {
    let stray = String::from_utf8_lossy(&w.buf);
    assert!(stray.is_empty(), "stray bytes: {stray:?}");
}

/// A chunked reply of "hello chunked world", with a chunk extension.
fn chunked() -> Vec<u8> {
    let mut reply = head("200 OK", "Transfer-Encoding: chunked\r\n");
    reply.extend(b"5;ext=1\r\nhello\r\n8\r\n chunked\r\n6\r\n world\r\n0\r\n\r\n");
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_keeps_the_content_length_and_sends_no_body() {
    let (_b, gw) = start(|req| match req.method.as_str() {
        "HEAD" => (head("200 OK", "Content-Length: 1234\r\n"), KEEP),
        _ => (ok("after head"), KEEP),
    })
    .await;
    let mut w = Wire::connect(gw.addr).await;
    for _ in 0..2 {
        let (status, headers, _) = w.fetch("HEAD", "/").await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-length"), Some("1234"));
        assert_eq!(header(&headers, "transfer-encoding"), None);
        let (status, _, body) = w.fetch("GET", "/").await;
        assert_eq!((status, &*body), (200, b"after head".as_slice()));
    }
    assert_no_stray_bytes(&w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_content_from_the_backend_reaches_the_client_without_a_body() {
    let (_b, gw) = start(|req| match req.path.as_str() {
        "/empty" => (head("204 No Content", "X-Empty: yes\r\n"), KEEP),
        _ => (ok("full"), KEEP),
    })
    .await;
    let mut w = Wire::connect(gw.addr).await;
    for _ in 0..3 {
        let (status, headers, _) = w.fetch("GET", "/empty").await;
        assert_eq!((status, header(&headers, "x-empty")), (204, Some("yes")));
        assert_eq!(header(&headers, "transfer-encoding"), None);
        assert_eq!(header(&headers, "content-length"), None);
        let (status, _, body) = w.fetch("GET", "/").await;
        assert_eq!((status, &*body), (200, b"full".as_slice()));
    }
    assert_no_stray_bytes(&w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_response_reaches_an_http11_client_exact() {
    let (_b, gw) = start(|_| (chunked(), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    for _ in 0..3 {
        let (status, headers, body) = w.fetch("GET", "/").await;
        let framed = header(&headers, "transfer-encoding") == Some("chunked")
            || header(&headers, "content-length").is_some();
        assert!(framed, "neither chunked nor a length: {headers:?}");
        assert_eq!((status, &*body), (200, b"hello chunked world".as_slice()));
    }
    assert_no_stray_bytes(&w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_response_reaches_an_http10_client_exact() {
    let (_b, gw) = start(|_| (chunked(), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    let req = "GET / HTTP/1.0\r\nHost: raw.test\r\n\r\n";
    w.s.write_all(req.as_bytes()).await.unwrap();
    let (start, headers) = w.head().await.expect("response head");
    assert!(
        start.starts_with("HTTP/1.") && start[9..].starts_with("200"),
        "{start}"
    );
    // HTTP/1.0 has no chunked coding: a length, or the close ends the body.
    assert_eq!(header(&headers, "transfer-encoding"), None);
    let body = match header(&headers, "content-length") {
        Some(n) => w.exact(n.parse().unwrap()).await.expect("body"),
        None => w
            .rest()
            .await
            .expect("the gateway should close the connection"),
    };
    assert_eq!(String::from_utf8_lossy(&body), "hello chunked world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_response_survives_a_slow_reader() {
    let body = pattern(1 << 20);
    let reply = ok(&body);
    let (_b, gw) = start(move |_| (reply.clone(), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    w.s.write_all(b"GET /big HTTP/1.1\r\nHost: raw.test\r\n\r\n")
        .await
        .unwrap();
    let (status, headers) = w.head().await.expect("response head");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let length = header(&headers, "content-length").map(|n| n.parse().unwrap());
    assert_eq!(length, Some(body.len()));
    // Small reads with pauses, so the gateway meets a full socket buffer.
    let mut got = std::mem::take(&mut w.buf);
    let mut small = [0u8; 997];
    for reads in 0.. {
        if got.len() >= body.len() {
            break;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), w.s.read(&mut small));
        let n = read.await.expect("more body in time").unwrap();
        assert!(n > 0, "closed after {} of {} bytes", got.len(), body.len());
        got.extend_from_slice(&small[..n]);
        if reads % 128 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(got.len(), body.len());
    let first_diff = got.iter().zip(&body).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "first differing byte");
    // The connection is still usable.
    let (status, _, next) = w.fetch("GET", "/big").await;
    assert_eq!((status, next.len()), (200, body.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_answers_carry_date_and_content_length() {
    let (_b, gw) = start(|_| (ok("routed"), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    let req = "GET /x HTTP/1.1\r\nHost: nowhere.test\r\n\r\n";
    w.s.write_all(req.as_bytes()).await.unwrap();
    let (status, headers, body) = w.response("GET").await;
    assert_eq!(status, 404);
    let date = header(&headers, "date").expect("a Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "date {date:?}");
    let length = header(&headers, "content-length");
    assert_eq!(length, Some(&*body.len().to_string()));
    assert_eq!(
        String::from_utf8_lossy(&body),
        "no route for host nowhere.test\n"
    );
    // The connection stays open for the next request.
    let (status, _, body) = w.fetch("GET", "/").await;
    assert_eq!((status, &*body), (200, b"routed".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_pipelined_requests_are_answered_in_order() {
    let (b, gw) = start(|req| (ok(&req.path), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    // Every third request goes to a host without a route (a local 404).
    let routed = |i: usize| i % 3 != 2;
    let mut all = String::new();
    for i in 0..50 {
        let host = if routed(i) {
            "raw.test"
        } else {
            "nowhere.test"
        };
        all += &format!("GET /{i} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    }
    w.s.write_all(all.as_bytes()).await.unwrap();
    for i in 0..50 {
        let (status, _, body) = w.response("GET").await;
        if routed(i) {
            assert_eq!(
                (status, String::from_utf8_lossy(&body)),
                (200, format!("/{i}").into())
            );
        } else {
            assert_eq!(status, 404, "request {i}");
        }
    }
    assert_no_stray_bytes(&w);
    let want: Vec<_> = (0..50)
        .filter(|&i| routed(i))
        .map(|i| format!("/{i}"))
        .collect();
    assert_eq!(b.paths(), want);
}
