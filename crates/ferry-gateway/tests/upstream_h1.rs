//! The gateway against HTTP/1.1 backends with awkward but legal framing:
//! chunk extensions and trailers, bodies ended by EOF, `Connection: close`,
//! pooled connections the backend closes while idle, interim `100 Continue`,
//! a 1 MiB body in small writes, HEAD with a Content-Length, 204 and POST
//! bodies. Each backend is a scripted raw TCP listener that writes exact
//! bytes and counts connections; clients see it only through the gateway.
//! Routes disable retries so a framing mistake cannot hide behind a retry.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ferry_core::mesh::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

const ROUTE: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: raw}\nspec:\n  hosts: [raw.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{destination: {host: raw}}]\n    retries: {attempts: 0}\n";

// === wire: hand-read HTTP/1.1 framing ===

/// A byte stream and the bytes read from it but not yet consumed.
struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

type Headers = Vec<(String, String)>;

fn header<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter().find_map(|(k, v)| (k == name).then_some(&**v))
}

impl Wire {
    /// Reads more bytes; false at EOF, on a reset, or after 10 s of
    /// silence (so a stuck exchange fails its test instead of hanging it).
    async fn fill(&mut self) -> bool {
        self.buf.reserve(16 * 1024);
        let read = tokio::time::timeout(Duration::from_secs(10), self.s.read_buf(&mut self.buf));
        matches!(read.await, Ok(Ok(n)) if n > 0)
    }

    /// Waits until `split` finds (length to return, length to consume).
    async fn take(&mut self, split: impl Fn(&[u8]) -> Option<(usize, usize)>) -> Option<Vec<u8>> {
        loop {
            if let Some((len, used)) = split(&self.buf) {
                let out = self.buf[..len].to_vec();
                self.buf.drain(..used);
                return Some(out);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        let at = |b: &[u8]| b.windows(delim.len()).position(|w| w == delim);
        self.take(|b| at(b).map(|i| (i, i + delim.len()))).await
    }

    async fn exact(&mut self, n: usize) -> Option<Vec<u8>> {
        self.take(|b| (b.len() >= n).then_some((n, n))).await
    }

    /// A message head: the start line and lowercased header names.
    async fn head(&mut self) -> Option<(String, Headers)> {
        let text = String::from_utf8(self.until(b"\r\n\r\n").await?).unwrap();
        let mut lines = text.split("\r\n");
        let start = lines.next()?.to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some((start, headers))
    }

    /// A body framed by chunked encoding or Content-Length (else empty).
    async fn body(&mut self, headers: &Headers) -> Option<Vec<u8>> {
        if header(headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line = String::from_utf8(self.until(b"\r\n").await?).unwrap();
                let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).unwrap();
                if size == 0 {
                    while !self.until(b"\r\n").await?.is_empty() {} // trailers
                    return Some(body);
                }
                body.extend(self.exact(size + 2).await?.drain(..size));
            }
        }
        let length = header(headers, "content-length").map(|n| n.parse().unwrap());
        self.exact(length.unwrap_or(0)).await
    }
}

/// Sends `method path` on a downstream keep-alive connection to the gateway
/// and reads the response: (status, headers, body).
async fn fetch(w: &mut Wire, method: &str, path: &str) -> (u16, Headers, Vec<u8>) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: raw.test\r\n\r\n");
    w.s.write_all(req.as_bytes()).await.unwrap();
    let (start, headers) = w.head().await.expect("response head");
    let status: u16 = start[9..12].parse().unwrap();
    let mut body = vec![];
    if method != "HEAD" && status != 204 && status != 304 {
        body = w.body(&headers).await.expect("response body");
    }
    (status, headers, body)
}

// === impl RawBackend ===

/// One request as the backend read it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Headers,
    body: Vec<u8>,
}

/// A reply's bytes (written in pieces of at most 1000 bytes) and whether
/// the backend then closes the connection or waits for the next request.
type Reply = (Vec<u8>, bool);
const CLOSE: bool = true;
const KEEP: bool = false;
type Script = dyn Fn(&Req) -> Reply + Send + Sync;

/// What a backend saw: `closed` counts connections it closed itself,
/// `peer_closed` those the gateway closed; bumping `kick` closes idle ones.
#[derive(Debug, Default)]
struct State {
    kick: watch::Sender<u64>,
    accepted: AtomicUsize,
    closed: AtomicUsize,
    peer_closed: AtomicUsize,
    requests: Mutex<Vec<Req>>,
}

fn n(counter: &AtomicUsize) -> usize {
    counter.load(SeqCst)
}

/// A scripted backend; dropping it aborts every task it started.
struct RawBackend {
    st: Arc<State>,
    _task: AbortOnDropHandle<()>,
}

/// A backend answering by `script`, and a gateway routing `raw.test` to it.
async fn start(script: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> (RawBackend, Running) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (script, st): (Arc<Script>, Arc<State>) = (Arc::new(script), Arc::default());
    let state = st.clone();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        while let Ok((s, _)) = listener.accept().await {
            state.accepted.fetch_add(1, SeqCst);
            conns.spawn(serve(s, script.clone(), state.clone()));
        }
    });
    let endpoint = Endpoint {
        pod: "raw-1".into(),
        labels: [("app".to_string(), "raw".to_string())].into(),
        ready: true,
        netns: None,
        ip: addr.ip(),
        ports: [(80u16, addr.port())].into(),
    };
    let snap = snapshot(vec![service("myhero", "raw", vec![endpoint])]);
    let gw = gateway(snap, &format!("{UI_DESTINATION_RULE}---\n{ROUTE}")).await;
    let _task = AbortOnDropHandle::new(task);
    (RawBackend { st, _task }, gw)
}

/// Serves one upstream connection by `script`.
async fn serve(s: TcpStream, script: Arc<Script>, st: Arc<State>) {
    let mut w = Wire { s, buf: vec![] };
    let mut kick = st.kick.subscribe();
    loop {
        if w.buf.is_empty() {
            tokio::select! {
                more = w.fill() => if !more { break },
                _ = kick.changed() => { st.closed.fetch_add(1, SeqCst); return }
            }
        }
        let Some((start, headers)) = w.head().await else {
            break;
        };
        let mut parts = start.split(' ').map(str::to_string);
        let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
        let body = w.body(&headers).await.unwrap_or_default();
        let req = Req {
            method,
            path,
            headers,
            body,
        };
        st.requests.lock().unwrap().push(req.clone());
        let (reply, close) = script(&req);
        for piece in reply.chunks(1000) {
            if w.s.write_all(piece).await.is_err() || w.s.flush().await.is_err() {
                return;
            }
        }
        if close {
            st.closed.fetch_add(1, SeqCst);
            return;
        }
    }
    st.peer_closed.fetch_add(1, SeqCst);
}

/// A response head with `status` and `headers` ("Name: value\r\n" lines).
fn head(status: &str, headers: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes()
}

/// A `200 OK` with a Content-Length body.
fn ok(body: impl AsRef<[u8]>) -> Vec<u8> {
    let body = body.as_ref();
    let length = format!("Content-Length: {}\r\n", body.len());
    [head("200 OK", &length), body.to_vec()].concat()
}

/// `n` bytes repeating every 251 (a prime, so never aligned with buffers).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Polls `done` every 10 ms until it holds, failing after 10 s.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// GET `path` on `raw.test` through the gateway (fresh reqwest client).
async fn get(gw: &Running, path: &str) -> (u16, Vec<u8>) {
    let rb = client().get(format!("http://{}{path}", gw.addr));
    let r = rb.header("host", "raw.test").send().await.expect("request");
    (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
}

/// A raw downstream keep-alive connection to the gateway.
async fn downstream(gw: &Running) -> Wire {
    let s = TcpStream::connect(gw.addr).await.unwrap();
    Wire { s, buf: vec![] }
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
    let mut w = downstream(&gw).await;
    for i in 0..20 {
        let (status, _, body) = fetch(&mut w, "GET", &format!("/{i}")).await;
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
async fn head_with_content_length_leaves_connections_usable() {
    let (_b, gw) = start(|req| match req.method.as_str() {
        "HEAD" => (head("200 OK", "Content-Length: 1234\r\n"), KEEP),
        _ => (ok("after head"), KEEP),
    })
    .await;
    let mut w = downstream(&gw).await;
    for _ in 0..2 {
        let (status, headers, _) = fetch(&mut w, "HEAD", "/").await;
        let length = header(&headers, "content-length");
        assert_eq!(status, 200);
        assert!(matches!(length, None | Some("1234")), "length {length:?}");
        let (status, _, body) = fetch(&mut w, "GET", "/").await;
        assert_eq!((status, body), (200, b"after head".to_vec()));
    }
    let stray = String::from_utf8_lossy(&w.buf);
    assert!(stray.is_empty(), "stray bytes: {stray:?}");
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
    let mut w = downstream(&gw).await;
    for _ in 0..5 {
        let (status, headers, _) = fetch(&mut w, "GET", "/empty").await;
        assert_eq!((status, header(&headers, "x-empty")), (204, Some("yes")));
        let (status, _, body) = fetch(&mut w, "GET", "/").await;
        assert_eq!((status, body), (200, b"full".to_vec()));
    }
    let accepted = n(&b.st.accepted);
    assert!(accepted <= 2, "{accepted} upstream connections");
    assert_eq!(n(&b.st.peer_closed), 0, "the gateway dropped a connection");
}
