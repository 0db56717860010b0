//! A registry-only stand-in for `ferry registry serve --addr A --data-dir D`,
//! for benchmarking the registry when the whole `ferry` binary cannot be
//! built (same constructor and server as the real command).

use ferry_core::events::EventBus;
use ferry_registry::{Config, Registry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let addr = arg("--addr").unwrap_or_else(|| "127.0.0.1:5000".into());
    let dir = arg("--data-dir").expect("--data-dir DIR");
    let config = Config {
        region: "bench".into(),
        data_dir: dir.into(),
        spec: Default::default(),
    };
    let mut metrics = prometheus_client::registry::Registry::default();
    let registry =
        Registry::open(config.clone(), EventBus::default(), &mut metrics).expect("open registry");
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("registry listening on http://{addr}");
    registry
        .serve_on(&config, listener, CancellationToken::new())
        .expect("serve")
        .await;
}
