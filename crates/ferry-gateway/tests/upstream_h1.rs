//! The gateway against HTTP/1.1 backends with awkward but legal framing:
//! chunk extensions and trailers, bodies ended by EOF, `Connection: close`,
//! pooled connections the backend closes while idle, interim `100 Continue`,
//! a 1 MiB body in small writes, 204 and POST bodies (HEAD with a
//! Content-Length is in `server_h1_framing.rs`). Each backend is a scripted
//! raw TCP listener (`common::raw`) that writes exact bytes and counts
//! connections; clients see it only through the gateway. Routes disable
//! retries so a framing mistake cannot hide behind a retry.

mod common;

use common::raw::*;
use common::wire::*;
use common::{Running, client};

/// GET `path` on `raw.test` through the gateway (fresh reqwest client).
async fn get(gw: &Running, path: &str) -> (u16, Vec<u8>) {
    let rb = client().get(format!("http://{}{path}", gw.addr));
    let r = rb.header("host", "raw.test").send().await.expect("request");
    (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_response_with_extensions_and_trailers_arrives_concatenated() {
    let mut reply = head("200 OK", "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n");
    reply.extend(b"5;foo=bar\r\nhello\r\n1\r\n \r\nb;a=b;c=\"d e\"\r\nchunked wor\r\n");
    reply.extend(b"2\r\nld\r\n0\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n");
    let (_b, gw) = start(move |_| (reply.clone(), KEEP)).await;
    let want = (200, b"hello chunked world".to_vec());
    for _ in 0..3 {
        assert_eq!(get(&gw, "/").await, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_framed_response_arrives_whole_and_is_not_reused() {
    let body = pattern(64 * 1024);
    let reply = [head("200 OK", "Content-Type: text/plain\r\n"), body.clone()].concat();
    let (b, gw) = start(move |_| (reply.clone(), CLOSE)).await;
    for i in 1..=3 {
        let (status, got) = get(&gw, "/").await;
        assert_eq!((status, got.len()), (200, body.len()), "request {i}");
        assert!(got == body, "request {i}: body differs");
        assert_eq!(n(&b.st.accepted), i, "one connection per response");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_response_is_delivered_and_the_connection_retired() {
    // The backend itself would answer again: only the gateway can retire it.
    let mut reply = head("200 OK", "Connection: close\r\nContent-Length: 3\r\n");
    reply.extend(b"bye");
    let (b, gw) = start(move |_| (reply.clone(), KEEP)).await;
    for i in 1..=3 {
        assert_eq!(get(&gw, "/").await, (200, b"bye".to_vec()));
        assert_eq!(n(&b.st.accepted), i, "a new connection per request");
    }
    wait_for("gateway closes", || n(&b.st.peer_closed) == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_upstream_connections() {
    let (b, gw) = start(|req| (ok(&req.path), KEEP)).await;
    let mut w = Wire::connect(gw.addr).await;
    for i in 0..20 {
        let (status, _, body) = w.fetch("GET", &format!("/{i}")).await;
        assert_eq!((status, body), (200, format!("/{i}").into_bytes()));
    }
    let accepted = n(&b.st.accepted);
    assert!(accepted <= 2, "{accepted} upstream connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connection_closed_by_backend_is_not_surfaced() {
    let (b, gw) = start(|_| (ok("fresh"), KEEP)).await;
    let want = (200, b"fresh".to_vec());
    for round in 1..=3 {
        assert_eq!(get(&gw, "/").await, want, "round {round}");
        b.st.kick.send_modify(|g| *g += 1);
        wait_for("the backend to close it", || n(&b.st.closed) == round).await;
    }
    assert_eq!(get(&gw, "/").await, want);
    assert_eq!(n(&b.st.accepted), 4, "a fresh connection after each close");
    assert_eq!(b.st.requests.lock().unwrap().len(), 4, "one try each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_100_continue_is_skipped() {
    let reply = [head("100 Continue", ""), ok("final")].concat();
    let (_b, gw) = start(move |_| (reply.clone(), KEEP)).await;
    for _ in 0..2 {
        assert_eq!(get(&gw, "/").await, (200, b"final".to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_body_in_small_writes_arrives_exact() {
    let body = pattern(1 << 20);
    let reply = ok(&body);
    let (_b, gw) = start(move |_| (reply.clone(), KEEP)).await;
    let (status, got) = get(&gw, "/big").await;
    assert_eq!((status, got.len()), (200, body.len()));
    let first_diff = got.iter().zip(&body).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "first differing byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_body_reaches_backend_exactly_with_content_length() {
    let digest = |b: &[u8]| format!("{} {}", b.len(), b.iter().map(|&x| x as u64).sum::<u64>());
    let (b, gw) = start(move |r| (ok(digest(&r.body)), KEEP)).await;
    let sent = pattern(3 * 1024);
    let rb = client().post(format!("http://{}/upload", gw.addr));
    let rb = rb.header("host", "raw.test").body(sent.clone());
    let r = rb.send().await.expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), digest(&sent));
    let seen = &b.st.requests.lock().unwrap()[0];
    assert_eq!(format!("{} {}", seen.method, seen.path), "POST /upload");
    assert_eq!(header(&seen.headers, "content-length"), Some("3072"));
    assert_eq!(header(&seen.headers, "transfer-encoding"), None);
    assert!(seen.body == sent, "body bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_content_response_keeps_the_upstream_connection() {
    let (b, gw) = start(|req| match req.path.as_str() {
        "/empty" => (head("204 No Content", "X-Empty: yes\r\n"), KEEP),
        _ => (ok("full"), KEEP),
    })
    .await;
    let mut w = Wire::connect(gw.addr).await;
    for _ in 0..5 {
        let (status, headers, _) = w.fetch("GET", "/empty").await;
        assert_eq!((status, header(&headers, "x-empty")), (204, Some("yes")));
        let (status, _, body) = w.fetch("GET", "/").await;
        assert_eq!((status, body), (200, b"full".to_vec()));
    }
    let accepted = n(&b.st.accepted);
    assert!(accepted <= 2, "{accepted} upstream connections");
    assert_eq!(n(&b.st.peer_closed), 0, "the gateway dropped a connection");
}
