//! Keep-alive connections that go idle between requests (the gateway parks
//! them and drops their buffers): later requests on the
//! same connection, pipelined requests, a request head split across writes,
//! and a request body that arrives late must all be answered as usual; a
//! head never completed is dropped after the header timeout. The gateway
//! here parks after 10 ms idle, so the tests' 50 ms pauses park.

mod common;

use std::time::Duration;

use common::*;
use ferry_gateway::GatewayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALL_TO_UI: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ui}\nspec:\n  hosts: [ui.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{destination: {host: myhero-ui}}]\n";

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: ui.test\r\n\r\n";

async fn start() -> (Backend, Running) {
    let ui = Backend::start("ui").await;
    let svc = service("myhero", "myhero-ui", vec![ui.endpoint("ui-1")]);
    let config = GatewayConfig {
        park_after: PARK_AFTER,
        header_timeout: HEADER_TIMEOUT,
        ..GatewayConfig::default()
    };
    let gw = gateway_with(
        snapshot(vec![svc]),
        &format!("{UI_DESTINATION_RULE}---\n{ALL_TO_UI}"),
        config,
    )
    .await;
    (ui, gw)
}

const PARK_AFTER: Duration = Duration::from_millis(10);
/// Long enough for the tests' 50 ms pauses inside a head.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);

/// How many times the gateway has parked a connection.
fn parks(gw: &Running) -> u64 {
    gw.gateway.metrics().parks.get()
}

/// Reads one response with a Content-Length body: (status, body).
async fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                buf.drain(..end + 4 + len);
                return (status, body);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        assert!(
            n > 0,
            "connection closed; had {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_serves_later_requests() {
    let (_ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..3 {
        s.write_all(GET).await.unwrap();
        assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
        // Idle well past the park delay: the connection parks, then serves
        // the next request from a fresh episode.
        wait_for_parks(&gw, i + 1).await;
    }
}

/// Polls until the gateway has parked `n` times (deadline 10 s).
async fn wait_for_parks(gw: &Running, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while parks(gw) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "parked {} times, wanted {n}",
            parks(gw)
        );
        tokio::time::sleep(PARK_AFTER).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (_ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let two = [GET, b"GET /x HTTP/1.1\r\nHost: nowhere.test\r\n\r\n"].concat();
    s.write_all(&two).await.unwrap();
    let mut buf = Vec::new();
    assert_eq!(response(&mut s, &mut buf).await.0, 200);
    assert_eq!(response(&mut s, &mut buf).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_head_split_across_writes() {
    let (_ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(GET).await.unwrap();
    response(&mut s, &mut buf).await;
    // The second head arrives in two parts; the pause lets the gateway read
    // the first part and park with it (the answer must be the same if not).
    s.write_all(&GET[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(&GET[20..]).await.unwrap();
    assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
    assert!(
        parks(&gw) >= 1,
        "the pause should have parked the connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_request_body_is_waited_for() {
    let (ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: ui.test\r\nContent-Length: 5\r\n\r\nab")
        .await
        .unwrap();
    // The rest of the body comes later: the connection is busy, not idle.
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"cde").await.unwrap();
    // The backend echoes what it received after its version.
    assert_eq!(
        response(&mut s, &mut buf).await,
        (200, "ui abcde".to_string())
    );
    assert!(ui.seen.lock().unwrap().iter().any(|r| r.path == "/upload"));
    s.write_all(GET).await.unwrap();
    assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_request_cut_short_is_completed_later() {
    let (_ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = Vec::new();
    // A whole request and the start of the next in one write; the rest later.
    s.write_all(&[GET, &GET[..20]].concat()).await.unwrap();
    assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(&GET[20..]).await.unwrap();
    assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
    assert!(
        parks(&gw) >= 1,
        "the pause should have parked the connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_never_completed_is_dropped_after_the_header_timeout() {
    let (_ui, gw) = start().await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(GET).await.unwrap();
    assert_eq!(response(&mut s, &mut buf).await, (200, "ui".to_string()));
    // Idle with nothing begun: kept (well past the timeout).
    tokio::time::sleep(HEADER_TIMEOUT * 2).await;
    s.write_all(&GET[..20]).await.unwrap();
    // Half a head, then silence: closed, without an answer.
    let started = tokio::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "closed without an answer: {read:?} {rest:?}"
    );
    assert!(
        started.elapsed() >= HEADER_TIMEOUT / 2,
        "not before its time"
    );
}
