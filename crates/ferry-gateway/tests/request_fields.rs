//! The request fields an upstream sees: X-Forwarded-For appended to (or
//! set), X-Forwarded-Proto kept (or set) exactly once, and hop-by-hop
//! fields — those the Connection field lists included — removed, with and
//! without them in the client's request.

mod common;

use common::raw::*;
use common::wire::*;

async fn send(gw: &common::Running, fields: &str) {
    let mut w = Wire::connect(gw.addr).await;
    let req = format!("GET / HTTP/1.1\r\nHost: raw.test\r\n{fields}\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut w.s, req.as_bytes())
        .await
        .unwrap();
    let (status, headers, _) = w.response("GET").await;
    assert_eq!(status, 200, "{headers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_fields_and_hop_by_hop_fields() {
    let (b, gw) = start(|_| (ok("ok"), KEEP)).await;

    send(&gw, "").await;
    send(
        &gw,
        "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n\
         Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\n\
         Proxy-Connection: keep-alive\r\nX-Keep: 2\r\n",
    )
    .await;

    let seen = b.st.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let plain = &seen[0].headers;
    assert_eq!(all(plain, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all(plain, "x-forwarded-proto"), ["http"]);
    assert_eq!(all(plain, "host"), ["raw.test"]);

    let forwarded = &seen[1].headers;
    assert_eq!(all(forwarded, "x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
    assert_eq!(all(forwarded, "x-forwarded-proto"), ["https"], "kept");
    assert_eq!(all(forwarded, "x-keep"), ["2"]);
    for gone in ["x-drop", "keep-alive", "proxy-connection"] {
        assert!(all(forwarded, gone).is_empty(), "{gone}: {forwarded:?}");
    }
    assert!(
        all(forwarded, "connection")
            .iter()
            .all(|v| !v.contains("X-Drop")),
        "{forwarded:?}"
    );
}
