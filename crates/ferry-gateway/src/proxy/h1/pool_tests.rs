//! Tests of the idle-connection slots with real sockets on 127.0.0.1: live
//! connections come back out, closed and expired ones never do, the cap
//! holds, and an authority keeps its slot while a snapshot holds it.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn pair(listener: &TcpListener) -> (Conn, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let conn = Conn {
        stream: client.unwrap(),
        buf: BytesMut::new(),
    };
    (conn, server.unwrap().0)
}

fn authority(s: &str) -> Authority {
    Authority::try_from(s).unwrap()
}

#[tokio::test]
async fn live_connections_are_reused_most_recent_first() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool = Pool::new(8, Duration::from_secs(60));
    let a = pool.slot(&authority("a:80"));
    let (c1, _s1) = pair(&l).await;
    let (c2, _s2) = pair(&l).await;
    let (p1, p2) = (
        c1.stream.local_addr().unwrap(),
        c2.stream.local_addr().unwrap(),
    );
    a.checkin(c1);
    a.checkin(c2);
    assert_eq!(a.idle_count(), 2);
    assert!(pool.slot(&authority("b:80")).checkout().is_none());
    // Authorities compare without case; a held slot is the same slot.
    assert!(Arc::ptr_eq(&a, &pool.slot(&authority("A:80"))));
    assert_eq!(a.checkout().unwrap().stream.local_addr().unwrap(), p2);
    assert_eq!(a.checkout().unwrap().stream.local_addr().unwrap(), p1);
    assert!(a.checkout().is_none());
}

#[tokio::test]
async fn connections_closed_by_the_server_are_not_handed_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool = Pool::new(8, Duration::from_secs(60));
    let a = pool.slot(&authority("a:80"));
    let (live, _keep) = pair(&l).await;
    let (dead, server) = pair(&l).await;
    let live_port = live.stream.local_addr().unwrap();
    drop(server);
    // Wait (with a deadline) until the reactor has seen the FIN.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !closed(&dead.stream) {
        assert!(Instant::now() < deadline, "close never observed");
        tokio::task::yield_now().await;
    }
    a.checkin(live);
    a.checkin(dead);
    assert_eq!(
        a.checkout().unwrap().stream.local_addr().unwrap(),
        live_port
    );
    assert!(a.checkout().is_none());
}

#[tokio::test]
async fn a_live_connection_is_not_taken_for_closed() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (c, mut s) = pair(&l).await;
    assert!(!closed(&c.stream));
    // Unasked bytes break an idle HTTP/1.1 connection too.
    s.write_all(b"x").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !closed(&c.stream) {
        assert!(Instant::now() < deadline, "unasked bytes never observed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn expired_and_surplus_connections_are_dropped() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = authority("a:80");
    let expired = Pool::new(8, Duration::ZERO).slot(&a);
    let (c, _s) = pair(&l).await;
    expired.checkin(c);
    assert!(expired.checkout().is_none());

    let capped = Pool::new(2, Duration::from_secs(60)).slot(&a);
    let mut servers = Vec::new();
    for _ in 0..3 {
        let (c, s) = pair(&l).await;
        servers.push(s);
        capped.checkin(c);
    }
    assert_eq!(capped.idle_count(), 2);
}

#[tokio::test]
async fn a_slot_no_snapshot_holds_is_forgotten_with_its_connections() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool = Pool::new(8, Duration::from_secs(60));
    let a = authority("a:80");
    let slot = pool.slot(&a);
    let (c, mut server) = pair(&l).await;
    slot.checkin(c);
    drop(slot);
    assert_eq!(pool.slot(&a).idle_count(), 0);
    // The pooled connection was closed: the server reads end of stream.
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut byte))
        .await
        .expect("close observed")
        .unwrap();
    assert_eq!(n, 0);
}
