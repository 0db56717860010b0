//! Tests of starting and stopping regions on real loopback sockets.

use super::*;
use ferry_core::topology::Topology;

fn topology(api: u16, registry: u16) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:{api}, registry: 127.0.0.1:{registry}, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n"
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

fn config(topology: Topology, dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        topology,
        data_root: dir.to_path_buf(),
        config_dir: dir.to_path_buf(),
    }
}

#[tokio::test]
async fn regions_serve_health_and_metrics_then_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(config(topology(0, 0), dir.path())).await.unwrap();
    assert_eq!(running.endpoints().len(), 6);
    let uk = running.region("uk").unwrap();
    let health = reqwest::get(format!("http://{}/healthz", uk.api))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{}/metrics", uk.api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ferry_build_info{region=\"uk\"} 1"),
        "{metrics}"
    );
    assert!(dir.path().join("uk").is_dir() && dir.path().join("shanghai").is_dir());
    running.shutdown().await;
    assert!(
        reqwest::get(format!("http://{}/healthz", uk.api))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn port_in_use_names_region_and_listener_and_releases_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_port = free.local_addr().unwrap().port();
    drop(free);
    let err = start(config(topology(api_port, port), dir.path()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("region `uk`") && msg.contains("registry listener"),
        "{msg}"
    );
    // The api listener bound before the failure was released again.
    std::net::TcpListener::bind(("127.0.0.1", api_port)).expect("api port released");
}
