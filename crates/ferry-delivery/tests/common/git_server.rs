//! A git host for the tests: git's own `upload-pack --stateless-rpc` behind
//! a small axum front (smart HTTP, protocol v0/v1 and v2), `public*` paths
//! open and the rest behind basic auth (`alice:s3cret`), served over plain
//! HTTP or over TLS with a CA made here (rcgen).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};

pub const AUTH: &str = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret

fn upload_pack(repo: &Path, headers: &HeaderMap, advertise: bool, input: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("git");
    cmd.args(["upload-pack", "--stateless-rpc"]);
    if advertise {
        cmd.arg("--advertise-refs");
    }
    if let Some(p) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = cmd
        .arg(repo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn denied(headers: &HeaderMap, public: bool) -> Option<Response> {
    let ok = public
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(AUTH);
    (!ok).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "",
        )
            .into_response()
    })
}

async fn refs(State(repo): State<PathBuf>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(r) = denied(&headers, uri.path().starts_with("/public")) {
        return r;
    }
    let out = tokio::task::spawn_blocking(move || {
        let v2 = headers.get("git-protocol").is_some();
        let mut body = Vec::new();
        if !v2 {
            body.extend_from_slice(b"001e# service=git-upload-pack\n0000");
        }
        body.extend(upload_pack(&repo, &headers, true, b""));
        body
    })
    .await
    .unwrap();
    (
        [(
            header::CONTENT_TYPE,
            "application/x-git-upload-pack-advertisement",
        )],
        out,
    )
        .into_response()
}

async fn pack(State(repo): State<PathBuf>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = denied(&headers, uri.path().starts_with("/public")) {
        return r;
    }
    let out = tokio::task::spawn_blocking(move || upload_pack(&repo, &headers, false, &body))
        .await
        .unwrap();
    (
        [(header::CONTENT_TYPE, "application/x-git-upload-pack-result")],
        out,
    )
        .into_response()
}

/// The routes of `repo.git` (private) and `public.git`, both serving `repo`.
pub fn router(repo: &Path) -> Router {
    Router::new()
        .route("/repo.git/info/refs", get(refs))
        .route("/repo.git/git-upload-pack", post(pack))
        .route("/public.git/info/refs", get(refs))
        .route("/public.git/git-upload-pack", post(pack))
        .with_state(repo.to_path_buf())
}

/// Serves `repo` over plain HTTP; returns `http://127.0.0.1:<port>`.
pub async fn serve_http(repo: &Path) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(repo);
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, server)
}

/// Writes `ca.crt` (a CA made for the test) and a certificate for
/// 127.0.0.1 it signed (`server.crt`, `server.key`) into `dir`.
pub fn make_certs(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ferry git test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// A TCP listener whose connections are TLS (handshakes that fail, such as
/// a client not trusting the CA, are dropped).
struct TlsListener {
    tcp: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `repo` over HTTPS with the certificate [`make_certs`] wrote into
/// `certs`; returns `https://127.0.0.1:<port>`.
pub async fn serve_https(repo: &Path, certs: &Path) -> (String, tokio::task::JoinHandle<()>) {
    let tls = ferry_api::tls::acceptor(&certs.join("server.crt"), &certs.join("server.key"))
        .expect("TLS acceptor");
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", tcp.local_addr().unwrap());
    let app = router(repo);
    let server = tokio::spawn(async move {
        axum::serve(TlsListener { tcp, tls }, app).await.unwrap();
    });
    (base, server)
}
