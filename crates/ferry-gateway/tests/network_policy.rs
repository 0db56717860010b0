//! Network policy on the gateway's side of the mesh contract: before it
//! picks an endpoint the gateway asks its dialer (`Dialer::allows`) whether
//! the request's origin — the calling pod for mesh traffic, the client's
//! address for traffic entering the region — may reach it; refused
//! endpoints are skipped, and a request that may reach none is answered
//! 403. Decisions change per request, pooled connections notwithstanding.
//! The runtime's dialer decides by NetworkPolicy (its own tests); here a
//! dialer with a switchable rule stands in for it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use ferry_core::mesh::{
    DialFuture, Dialer, Endpoint, Origin, ServiceKey, ServiceSnapshot, SourcePod,
};
use ferry_gateway::{Gateway, GatewayConfig, HostDialer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Host dialing; refuses pods labelled `role=blocked` and pod `app-2`, and
/// outside clients while `north_denied`.
#[derive(Debug, Default)]
struct RuleDialer {
    north_denied: AtomicBool,
}

impl Dialer for RuleDialer {
    fn dial<'a>(&'a self, endpoint: &'a Endpoint, port: u16) -> DialFuture<'a> {
        HostDialer.dial(endpoint, port)
    }

    fn allows(&self, origin: Origin<'_>, _: &ServiceKey, endpoint: &Endpoint, _: u16) -> bool {
        match origin {
            Origin::Pod(p) => {
                p.labels.get("role").map(String::as_str) != Some("blocked")
                    && endpoint.pod != "app-2"
            }
            Origin::External(ip) => {
                assert!(ip.is_loopback(), "the client's address: {ip}");
                !self.north_denied.load(Ordering::SeqCst)
            }
        }
    }
}

const INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: app}\nspec:\n  rules:\n  - host: app.test\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: myhero-app, port: {number: 80}}}}]}\n";

/// Hands every connection to `listener` to the mesh handler as from a pod
/// labelled `role=<role>`.
async fn caller(gw: &Gateway, role: &str) -> std::net::SocketAddr {
    let handler = gw.mesh_handler(CancellationToken::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let source = SourcePod {
        namespace: "myhero".into(),
        pod: format!("{role}-pod"),
        labels: [("role".to_string(), role.to_string())].into(),
    };
    let key = ServiceKey {
        namespace: "myhero".into(),
        name: "myhero-app".into(),
    };
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let conn: TcpStream = conn;
            handler.handle(conn, source.clone(), key.clone(), 80);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_endpoints_are_skipped_and_a_request_reaching_none_is_403() {
    let (one, two) = (Backend::start("one").await, Backend::start("two").await);
    let snap: ServiceSnapshot = snapshot(vec![service(
        "myhero",
        "myhero-app",
        vec![one.endpoint("app-1"), two.endpoint("app-2")],
    )]);
    let (_tx, rx) = tokio::sync::watch::channel(snap);
    let dialer = Arc::new(RuleDialer::default());
    let gw = Gateway::new(dialer.clone(), rx, GatewayConfig::default());
    gw.apply(objects(INGRESS)).unwrap();
    let north = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let north_addr = north.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn({
        let (gw, stop) = (gw.clone(), stop.clone());
        async move { gw.serve(north, stop).await }
    });
    let (client_addr, blocked_addr) = (caller(&gw, "client").await, caller(&gw, "blocked").await);
    let c = client();
    for _ in 0..6 {
        // app-2 is refused to every pod: round robin only ever gives app-1.
        assert_eq!(
            get(&c, client_addr, "myhero-app", "/", &[]).await,
            (200, "one".into())
        );
        let (status, _) = get(&c, blocked_addr, "myhero-app", "/", &[]).await;
        assert_eq!(status, 403, "a pod that may reach no endpoint");
    }
    // Outside clients: both endpoints, until refused.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let (status, body) = get(&c, north_addr, "app.test", "/", &[]).await;
        assert_eq!(status, 200);
        seen.insert(body);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    dialer.north_denied.store(true, Ordering::SeqCst);
    // The same keep-alive client, its pooled upstream connections open.
    assert_eq!(get(&c, north_addr, "app.test", "/", &[]).await.0, 403);
    stop.cancel();
}
