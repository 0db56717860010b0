//! A scripted raw-TCP HTTP/1.1 backend: it reads each request with [`Wire`],
//! records it, and writes the exact reply bytes its script returns (in
//! pieces of at most 1000 bytes), counting connections; plus a gateway
//! routing `raw.test` to it with retries off, so a framing mistake cannot
//! hide behind a retry.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::mesh::Endpoint;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use super::wire::{Headers, Wire};
use super::{Running, UI_DESTINATION_RULE, gateway, service, snapshot};

const ROUTE: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: raw}\nspec:\n  hosts: [raw.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{destination: {host: raw}}]\n    retries: {attempts: 0}\n";

/// One request as the backend read it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A reply's bytes and whether the backend then closes the connection or
/// waits for the next request.
pub type Reply = (Vec<u8>, bool);
pub const CLOSE: bool = true;
pub const KEEP: bool = false;
type Script = dyn Fn(&Req) -> Reply + Send + Sync;

/// What a backend saw: `closed` counts connections it closed itself,
/// `peer_closed` those the gateway closed; bumping `kick` closes idle ones.
#[derive(Debug, Default)]
pub struct State {
    pub kick: watch::Sender<u64>,
    pub accepted: AtomicUsize,
    pub closed: AtomicUsize,
    pub peer_closed: AtomicUsize,
    pub requests: Mutex<Vec<Req>>,
}

pub fn n(counter: &AtomicUsize) -> usize {
    counter.load(SeqCst)
}

/// A scripted backend; dropping it aborts every task it started.
pub struct RawBackend {
    pub st: Arc<State>,
    _task: AbortOnDropHandle<()>,
}

impl RawBackend {
    /// The paths of the requests seen so far, in order.
    pub fn paths(&self) -> Vec<String> {
        let requests = self.st.requests.lock().unwrap();
        requests.iter().map(|r| r.path.clone()).collect()
    }
}

/// A backend answering by `script`, and a gateway routing `raw.test` to it.
pub async fn start(
    script: impl Fn(&Req) -> Reply + Send + Sync + 'static,
) -> (RawBackend, Running) {
    start_routed(script, ROUTE).await
}

/// [`start`] with the gateway's routing objects in `routes` (YAML; the
/// backend is Service `myhero/raw`).
pub async fn start_routed(
    script: impl Fn(&Req) -> Reply + Send + Sync + 'static,
    routes: &str,
) -> (RawBackend, Running) {
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
    let gw = gateway(snap, &format!("{UI_DESTINATION_RULE}---\n{routes}")).await;
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
pub fn head(status: &str, headers: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes()
}

/// A `200 OK` with a Content-Length body.
pub fn ok(body: impl AsRef<[u8]>) -> Vec<u8> {
    let body = body.as_ref();
    let length = format!("Content-Length: {}\r\n", body.len());
    [head("200 OK", &length), body.to_vec()].concat()
}

/// `n` bytes repeating every 251 (a prime, so never aligned with buffers).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Polls `done` every 10 ms until it holds, failing after 10 s.
pub async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
