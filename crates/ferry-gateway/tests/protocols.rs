//! Proxying quality: h2c downstream, HTTP/2 (gRPC-style) upstream, WebSocket
//! upgrade, streamed bodies, mirror skip beyond the buffer limit, readiness,
//! and configuration swaps that do not drop in-flight requests.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALL_TO_UI: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ui}\nspec:\n  hosts: [ui.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{destination: {host: myhero-ui}}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_and_http2_backends() {
    let ui = Backend::start("ui").await;
    let mut svc = service("myhero", "myhero-ui", vec![ui.endpoint("ui-1")]);
    svc.ports[0].app_protocol = Some("kubernetes.io/h2c".into());
    let gw = gateway(
        snapshot(vec![svc]),
        &format!("{UI_DESTINATION_RULE}---\n{ALL_TO_UI}"),
    )
    .await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{}/", gw.addr))
        .header("host", "ui.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "ui");
    // A gRPC call (HTTP/2, application/grpc) passes through with its body,
    // and the backend's trailers (where gRPC puts its status) come back.
    let (status, body, trailers) = grpc_call(gw.addr, "ui.test", &[0u8, 0, 0, 0, 1, 42]).await;
    assert_eq!(status, 200);
    assert_eq!(body, [0u8, 0, 0, 0, 1, 42], "the message is echoed");
    let trailers = trailers.expect("the gRPC trailers reach the client");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0", "{trailers:?}");
    assert_eq!(trailers.get("grpc-message").unwrap(), "ui", "{trailers:?}");
    assert!(
        ui.seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.path == "/pkg.Svc/Method")
    );
    // appProtocol kubernetes.io/h2c: the upstream leg is HTTP/2 too.
    assert_eq!(
        ui.http_versions(),
        [hyper::Version::HTTP_2, hyper::Version::HTTP_2],
        "the gateway spoke HTTP/1.1 to an h2c backend"
    );
}

/// One gRPC-style call over h2c (prior knowledge) with hyper's client,
/// which, unlike reqwest, exposes trailers: (status, body, trailers).
async fn grpc_call(
    gw: std::net::SocketAddr,
    authority: &str,
    message: &'static [u8],
) -> (u16, Vec<u8>, Option<hyper::HeaderMap>) {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(gw).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(format!("http://{authority}/pkg.Svc/Method"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            message,
        )))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("the gRPC call answered within 10 s")
        .unwrap();
    let status = resp.status().as_u16();
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    (status, collected.to_bytes().to_vec(), trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_and_skip_the_mirror() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-ui",
        vec![v1.endpoint("ui-v1"), v2.endpoint("ui-v2")],
    )]);
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ui}\nspec:\n  hosts: [ui.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{destination: {host: myhero-ui, subset: v1}}]\n    mirror: {host: myhero-ui, subset: v2}\n    mirrorPercentage: {value: 100.0}\n";
    let gw = gateway(snap, &format!("{UI_DESTINATION_RULE}---\n{vs}")).await;
    let c = client();
    let big = "x".repeat(1 << 20);
    let r = c
        .post(format!("http://{}/upload", gw.addr))
        .header("host", "ui.test")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), format!("v1 {big}"));
    let small = c
        .post(format!("http://{}/upload", gw.addr))
        .header("host", "ui.test")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(small.text().await.unwrap(), "v1 hello");
    ferry_test_support::poll("small body mirrored", Duration::from_secs(5), || {
        (v2.count() == 1).then_some(())
    });
    let mut reg = prometheus_client::registry::Registry::default();
    gw.gateway.metrics().register(&mut reg);
    let encode = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        text
    };
    // The mirror counts `sent` once its response head is back, which may be
    // after the backend counted the request.
    let text = ferry_test_support::poll("mirror counted", Duration::from_secs(5), || {
        let text = encode();
        text.contains("result=\"sent\"} 1").then_some(text)
    });
    assert!(
        text.contains("result=\"skipped_body_too_large\"} 1"),
        "{text}"
    );
    assert!(text.contains("result=\"sent\"} 1"), "{text}");
    assert!(text.contains("gateway_requests_total{direction=\"north\",route=\"VirtualService/myhero/ui/0\",destination_service=\"myhero-ui.myhero\",destination_subset=\"v1\",response_code=\"200\"} 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_tunnels_both_ways() {
    // A backend that accepts an upgrade and echoes bytes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let be = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            head.extend_from_slice(&buf[..n]);
        }
        assert!(
            String::from_utf8_lossy(&head)
                .to_ascii_lowercase()
                .contains("upgrade: websocket")
        );
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").await.unwrap();
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    });
    let ep = ferry_core::mesh::Endpoint {
        pod: "ws".into(),
        labels: Default::default(),
        ready: true,
        netns: None,
        ip: be.ip(),
        ports: [(80, be.port())].into(),
    };
    let gw = gateway(
        snapshot(vec![service("myhero", "myhero-ui", vec![ep])]),
        &format!("{UI_DESTINATION_RULE}---\n{ALL_TO_UI}"),
    )
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: ui.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(b"ping-frame").await.unwrap();
    let mut echo = [0u8; 10];
    s.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping-frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_swaps_keep_in_flight_requests_and_endpoints_follow_readiness() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let snap = snapshot(vec![service(
        "myhero",
        "myhero-ui",
        vec![v1.endpoint("ui-v1"), v2.endpoint("ui-v2")],
    )]);
    let to = |subset: &str| {
        format!(
            "{UI_DESTINATION_RULE}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: ui}}\nspec:\n  hosts: [ui.test]\n  gateways: [myhero-gateway]\n  http:\n  - route: [{{destination: {{host: myhero-ui, subset: {subset}}}}}]\n"
        )
    };
    let gw = gateway(snap.clone(), &to("v1")).await;
    let c = client();
    v1.delay_ms.store(800, Ordering::SeqCst);
    let (c2, addr) = (c.clone(), gw.addr);
    let slow = tokio::spawn(async move { get(&c2, addr, "ui.test", "/slow", &[]).await });
    ferry_test_support::poll("slow request in flight", Duration::from_secs(5), || {
        (v1.count() == 1).then_some(())
    });
    gw.gateway.apply(objects(&to("v2"))).unwrap();
    assert_eq!(
        get(&c, gw.addr, "ui.test", "/", &[]).await.1,
        "v2",
        "new requests use the new table"
    );
    assert_eq!(
        slow.await.unwrap(),
        (200, "v1".into()),
        "the in-flight request finished"
    );

    // Readiness: an endpoint that is not ready gets no traffic.
    let mut snap2 = snap.clone();
    for s in snap2.services.values_mut() {
        for e in &mut s.endpoints {
            e.ready = e.pod != "ui-v2";
        }
    }
    gw.services.send(snap2).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(&c, gw.addr, "ui.test", "/", &[]).await;
        if r.0 == 503 {
            assert_eq!(r.1, "no healthy upstream");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "unready endpoint still served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.services.send(snap).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while get(&c, gw.addr, "ui.test", "/", &[]).await.1 != "v2" {
        assert!(
            std::time::Instant::now() < deadline,
            "endpoint never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
