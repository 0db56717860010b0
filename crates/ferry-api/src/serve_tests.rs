//! The serve loop on real loopback sockets: a trickling client is cut off,
//! an idle keep-alive connection is closed, the cap queues connections and
//! says so, shutdown lets in-flight requests finish, TLS serves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(ms(600)).await;
                "slow"
            }),
        )
        .route(
            "/conn",
            get(|Extension(c): Extension<ConnInfo>| async move { format!("tls={}", c.tls) }),
        )
}

async fn start(
    config: ServeConfig,
    app: Router,
) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, app, config, stop.clone()));
    (addr, stop, task)
}

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Reads until `want` is in what arrived, or fails after 3 s.
async fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !String::from_utf8_lossy(&got).contains(want) {
        let mut buf = [0u8; 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) => panic!("closed before `{want}`: {}", String::from_utf8_lossy(&got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
            Err(_) => panic!("no `{want}` within 3 s: {}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server closes `s` within `within` (reading and dropping
/// anything it sends first).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_trickling_header_bytes_is_closed() {
    let config = ServeConfig {
        header_read_timeout: ms(300),
        idle_timeout: Duration::from_secs(30),
        ..ServeConfig::default()
    };
    let (addr, _stop, _task) = start(config, app()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    // One byte every 50 ms: each keeps the socket busy, none ends the head.
    let closed = loop {
        if started.elapsed() > Duration::from_secs(5) {
            break false;
        }
        if s.write_all(b"a").await.is_err() || closed_within(&mut s, ms(50)).await {
            break true;
        }
    };
    assert!(closed, "still open after 5 s of trickling");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_slow_request_is_not() {
    let config = ServeConfig {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: ms(300),
        ..ServeConfig::default()
    };
    let (addr, _stop, _task) = start(config, app()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // A request running twice the idle timeout is in flight, not idle.
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut s, "slow").await;
    let idle = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
    assert!(
        idle.elapsed() >= ms(250),
        "closed after {:?}",
        idle.elapsed()
    );
}

#[tokio::test]
async fn at_the_cap_connections_wait_and_a_warning_is_logged() {
    let log = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Sink(sink.clone()))
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let config = ServeConfig {
        max_connections: 1,
        ..ServeConfig::default()
    };
    let (addr, _stop, _task) = start(config, app()).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(HELLO).await.unwrap();
    read_until(&mut first, "hello").await;
    // The second connection is accepted by the kernel but waits unserved.
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(HELLO).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(timeout(ms(400), second.read(&mut buf)).await.is_err());
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert!(
        text.contains("connection cap reached") && text.contains("max_connections=1"),
        "{text}"
    );
    drop(first);
    read_until(&mut second, "hello").await;
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_in_flight_requests_finish() {
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, r) = (entered.clone(), release.clone());
    let app = Router::new().route(
        "/wait",
        get(move || {
            let (e, r) = (e.clone(), r.clone());
            async move {
                e.notify_one();
                r.notified().await;
                "done"
            }
        }),
    );
    let (addr, stop, task) = start(ServeConfig::default(), app).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /wait HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    stop.cancel();
    let deadline = Instant::now() + Duration::from_secs(3);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        tokio::task::yield_now().await;
    }
    assert!(!task.is_finished());
    release.notify_one();
    let answer = read_until(&mut s, "done").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn tls_serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("api.crt"), dir.path().join("api.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let config = ServeConfig {
        tls: Some(crate::tls::acceptor(&cert_file, &key_file).unwrap()),
        ..ServeConfig::default()
    };
    let (addr, _stop, _task) = start(config, app()).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let body = client
        .get(format!("https://{addr}/conn"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "tls=true");
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::get(format!("http://{addr}/hello")).await.is_err());
    // A key that does not belong to the certificate is named.
    std::fs::write(
        &key_file,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let err = crate::tls::acceptor(&cert_file, &key_file)
        .err()
        .expect("a foreign key is refused");
    assert!(err.to_string().contains("api.crt"), "{err}");
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let (addr, stop, task) = start(ServeConfig::default(), app()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(HELLO).await.unwrap();
    read_until(&mut s, "hello").await;
    // The client keeps the connection open; shutdown does not wait for it.
    stop.cancel();
    timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(1)).await);
}
