//! `start_region`: only the named region runs; the others are remote.

use std::collections::BTreeMap;

use axum::response::IntoResponse;
use ferry_core::topology::Topology;
use ferry_delivery::remote::RemoteRegions;

use crate::{Error, ServerConfig, start_region};

fn topology(extra: &str) -> Topology {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n\
         ---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: shanghai}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n{extra}"
    );
    Topology::from_sources(&[("t.yaml".into(), text)]).unwrap()
}

fn config(topology: Topology, dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        topology,
        data_root: dir.to_path_buf(),
        config_dir: dir.to_path_buf(),
        auth_enabled: false,
        known_tokens: BTreeMap::new(),
        kube_targets: None,
    }
}

#[tokio::test]
async fn only_the_named_region_runs_and_an_unknown_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_region(config(topology(""), dir.path()), "shanghai")
        .await
        .unwrap();
    assert!(running.region("uk").is_none());
    assert!(running.region("shanghai").is_some());
    assert_eq!(running.endpoints().len(), 3);
    // The delivery engine lives with the one region this process runs.
    assert!(dir.path().join("shanghai/delivery/apps").is_dir());
    assert!(!dir.path().join("uk").exists());
    running.shutdown().await;

    let err = start_region(config(topology(""), dir.path()), "paris")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownRegion { .. }), "{err}");
    assert!(err.to_string().contains("uk, shanghai"), "{err}");
}

#[tokio::test]
async fn a_remote_gate_without_evidence_says_why_and_never_leaks_the_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("uk.token"), "ferry_secret_token_value\n").unwrap();
    // uk's API is a closed loopback port: unreachable, like a cut link.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let topo = topology("");
    let mut topo_with = topo.clone();
    topo_with.regions[0].spec.endpoints = Some(ferry_core::region_endpoints::RegionEndpoints {
        api: Some(format!("http://{addr}")),
        token_file: Some("uk.token".into()),
        ..Default::default()
    });
    let local: BTreeMap<String, ()> = [("shanghai".to_string(), ())].into();
    let remote = crate::remote::HttpRemoteRegions::new(&topo_with, &local, dir.path());
    let err = remote
        .app_status("uk", "web")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("region `uk`") && err.contains("unreachable"),
        "{err}"
    );
    assert!(!err.contains("ferry_secret"), "{err}");
    let bare = crate::remote::HttpRemoteRegions::new(&topo, &local, dir.path());
    let err = bare.app_status("uk", "web").await.unwrap_err().to_string();
    assert!(err.contains("spec.endpoints.api"), "{err}");
}

#[tokio::test]
async fn the_uis_probe_finds_a_remote_region_up_with_its_version_or_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("uk.token"), "ferry_probe_token\n").unwrap();
    // uk's API: a real HTTP server on loopback that wants the token.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/api/v1",
        axum::routing::get(|h: axum::http::HeaderMap| async move {
            match h.get("authorization").and_then(|v| v.to_str().ok()) {
                Some("Bearer ferry_probe_token") => {
                    axum::Json(serde_json::json!({"ferryVersion": "9.9.9"})).into_response()
                }
                _ => axum::http::StatusCode::UNAUTHORIZED.into_response(),
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let with_api = |addr: std::net::SocketAddr| {
        let mut t = topology("");
        t.regions[0].spec.endpoints = Some(ferry_core::region_endpoints::RegionEndpoints {
            api: Some(format!("http://{addr}")),
            token_file: Some("uk.token".into()),
            ..Default::default()
        });
        t
    };
    let local: BTreeMap<String, ()> = [("shanghai".to_string(), ())].into();
    for (addr, up) in [(addr, true), (gone, false)] {
        let client = crate::remote::HttpRemoteRegions::new(&with_api(addr), &local, dir.path());
        assert_eq!(client.regions().collect::<Vec<_>>(), ["uk"]);
        let states = std::sync::Arc::new(ferry_ui::regions::RegionStates::new());
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(crate::ui::probe(client, states.clone(), stop.clone()));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let seen = loop {
            if let Some(s) = states.get("uk") {
                break s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no probe within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(seen.up, up, "{seen:?}");
        if up {
            assert_eq!(seen.version.as_deref(), Some("9.9.9"));
        } else {
            assert!(
                seen.error.as_deref().unwrap().contains("unreachable"),
                "{seen:?}"
            );
            assert!(!seen.error.unwrap().contains("ferry_probe_token"));
        }
        assert!(
            states.get("shanghai").is_none(),
            "a local region is not probed"
        );
        stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the probe ends at shutdown")
            .unwrap();
    }
    server.abort();
}
