//! Tests of the idle-connection pool with real sockets on 127.0.0.1: live
//! connections come back out, closed and expired ones never do, and the
//! per-authority cap holds.

use super::*;
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
    let a = authority("a:80");
    let (c1, _s1) = pair(&l).await;
    let (c2, _s2) = pair(&l).await;
    let (p1, p2) = (
        c1.stream.local_addr().unwrap(),
        c2.stream.local_addr().unwrap(),
    );
    pool.checkin(&a, c1);
    pool.checkin(&a, c2);
    assert_eq!(pool.idle_count(), 2);
    assert!(pool.checkout(&authority("b:80")).is_none());
    assert_eq!(pool.checkout(&a).unwrap().stream.local_addr().unwrap(), p2);
    assert_eq!(pool.checkout(&a).unwrap().stream.local_addr().unwrap(), p1);
    assert!(pool.checkout(&a).is_none());
}

#[tokio::test]
async fn connections_closed_by_the_server_are_not_handed_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pool = Pool::new(8, Duration::from_secs(60));
    let a = authority("a:80");
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
    pool.checkin(&a, live);
    pool.checkin(&a, dead);
    assert_eq!(
        pool.checkout(&a).unwrap().stream.local_addr().unwrap(),
        live_port
    );
    assert!(pool.checkout(&a).is_none());
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
    let expired = Pool::new(8, Duration::ZERO);
    let (c, _s) = pair(&l).await;
    expired.checkin(&a, c);
    assert!(expired.checkout(&a).is_none());

    let capped = Pool::new(2, Duration::from_secs(60));
    let mut servers = Vec::new();
    for _ in 0..3 {
        let (c, s) = pair(&l).await;
        servers.push(s);
        capped.checkin(&a, c);
    }
    assert_eq!(capped.idle_count(), 2);
}
