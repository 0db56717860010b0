//! The registry listener's limits (issue 17, item 9): a client trickling a
//! request head is closed by the header timeout, an idle keep-alive
//! connection by the idle timeout, and connections past the cap wait in the
//! backlog until one closes. Raw TCP on loopback, short limits.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferry_core::registry_spec::RegistrySpec;
use ferry_registry::ListenerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUEST: &[u8] = b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n";

fn limits(max_connections: usize) -> ListenerLimits {
    ListenerLimits {
        header_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(800),
        max_connections,
    }
}

/// Reads until the server closes the connection (EOF or reset) or
/// `deadline` passes; true when it closed.
async fn closed_within(s: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one `/v2/` response (its body is `{}`).
async fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"{}") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("a response within 10 s")
            .unwrap();
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_trickling_its_request_head_is_closed() {
    let reg = start_with_limits(RegistrySpec::default(), limits(16)).await;
    let mut s = TcpStream::connect(&reg.host).await.unwrap();
    let (mut rd, mut wr) = s.split();
    let started = Instant::now();
    // One byte of a never-ending header every 50 ms.
    let trickle = async {
        wr.write_all(b"GET /v2/ HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        loop {
            if wr.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut buf = [0u8; 64];
    let closed = tokio::select! {
        _ = trickle => true,
        r = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf)) => {
            matches!(r, Ok(Ok(0)) | Ok(Err(_)))
        }
    };
    let took = started.elapsed();
    assert!(
        closed,
        "a trickling client held its connection for {took:?}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed() {
    let reg = start_with_limits(RegistrySpec::default(), limits(16)).await;
    let mut s = TcpStream::connect(&reg.host).await.unwrap();
    // The server's idle clock starts when it has written the response,
    // after this instant and before the client has read it: measuring from
    // here is a lower bound the server cannot beat.
    let idle = Instant::now();
    s.write_all(REQUEST).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut s, Duration::from_secs(10)).await);
    assert!(
        idle.elapsed() >= Duration::from_millis(800),
        "{:?}",
        idle.elapsed()
    );
    // A connection that never sends a byte is idle from the start.
    let mut quiet = TcpStream::connect(&reg.host).await.unwrap();
    assert!(closed_within(&mut quiet, Duration::from_secs(10)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let reg = start_with_limits(
        RegistrySpec::default(),
        ListenerLimits {
            idle_timeout: Duration::from_secs(60),
            ..limits(1)
        },
    )
    .await;
    let mut first = TcpStream::connect(&reg.host).await.unwrap();
    first.write_all(REQUEST).await.unwrap();
    read_response(&mut first).await;
    // The kernel completes the handshake, but the registry does not serve
    // the second connection while the first holds the only slot.
    let mut second = TcpStream::connect(&reg.host).await.unwrap();
    second.write_all(REQUEST).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    drop(first);
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"));
}
