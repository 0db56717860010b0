//! An upstream's response fields as clients see them: passed through
//! unchanged when no route operation touches them (order, repeats and
//! spelling kept; the upstream's Connection and Keep-Alive fields replaced
//! by the gateway's own), and changed exactly as configured when a
//! VirtualService sets, adds or removes response headers or has a CORS
//! policy — on ferry's own HTTP/1.1 server and through hyper (h2c).

mod common;

use common::raw::*;
use common::wire::*;

/// The backend's answer: repeated and mixed-case fields, connection fields
/// a proxy must not forward, no Date.
fn reply() -> Vec<u8> {
    [
        head(
            "200 OK",
            "Server: up/1\r\nSet-Cookie: a=1\r\nConnection: keep-alive\r\nX-Up: yes\r\n\
             Set-Cookie: b=2\r\nKeep-Alive: timeout=5\r\nContent-Length: 3\r\nX-CASE: Mixed\r\n",
        ),
        b"up\n".to_vec(),
    ]
    .concat()
}

async fn raw_get(gw: &common::Running, extra: &str) -> (String, Headers, Vec<u8>) {
    let mut w = Wire::connect(gw.addr).await;
    let req = format!("GET / HTTP/1.1\r\nHost: raw.test\r\n{extra}\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut w.s, req.as_bytes())
        .await
        .unwrap();
    let (start, headers) = w.head().await.expect("response head");
    let body = w.body(&headers).await.expect("body");
    (start, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_fields_pass_through_in_order() {
    let (_b, gw) = start(|_| (reply(), KEEP)).await;
    for _ in 0..2 {
        let (start, h, body) = raw_get(&gw, "").await;
        assert_eq!(start, "HTTP/1.1 200 OK");
        assert_eq!(body, b"up\n");
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "server",
                "set-cookie",
                "x-up",
                "set-cookie",
                "content-length",
                "x-case",
                "date"
            ],
            "{h:?}"
        );
        assert_eq!(all(&h, "set-cookie"), ["a=1", "b=2"]);
        assert_eq!(header(&h, "x-case"), Some("Mixed"));
        assert_eq!(header(&h, "content-length"), Some("3"));
        assert!(header(&h, "keep-alive").is_none());
    }
}

const OPS_ROUTE: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: raw}
spec:
  hosts: [raw.test]
  gateways: [myhero-gateway]
  http:
  - route: [{destination: {host: raw}}]
    retries: {attempts: 0}
    headers:
      response:
        set: {server: ferry}
        add: {x-added: one}
        remove: [x-up]
    corsPolicy:
      allowOrigins: [{exact: "https://ui.test"}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_operations_and_cors_change_the_upstream_fields() {
    let (_b, gw) = start_routed(|_| (reply(), KEEP), OPS_ROUTE).await;
    let (start, h, body) = raw_get(&gw, "Origin: https://ui.test\r\n").await;
    assert_eq!(start, "HTTP/1.1 200 OK");
    assert_eq!(body, b"up\n");
    assert_eq!(all(&h, "server"), ["ferry"], "set replaces: {h:?}");
    assert_eq!(all(&h, "x-added"), ["one"]);
    assert!(header(&h, "x-up").is_none(), "removed: {h:?}");
    assert_eq!(all(&h, "set-cookie"), ["a=1", "b=2"]);
    assert_eq!(header(&h, "x-case"), Some("Mixed"));
    assert_eq!(all(&h, "content-length"), ["3"]);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://ui.test")
    );
    assert!(header(&h, "connection").is_none() && header(&h, "keep-alive").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_get_the_upstream_fields_too() {
    let (_b, gw) = start(|_| (reply(), KEEP)).await;
    let c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = c
        .get(format!("http://{}/", gw.addr))
        .header("host", "raw.test")
        .send()
        .await
        .expect("h2c request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let cookies: Vec<&str> = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(h["server"], "up/1");
    assert_eq!(h["x-up"], "yes");
    assert_eq!(h["x-case"], "Mixed");
    assert!(h.get("keep-alive").is_none() && h.get("connection").is_none());
    assert_eq!(r.text().await.unwrap(), "up\n");
}
