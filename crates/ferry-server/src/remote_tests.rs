//! `start_region`: only the named region runs; the others are remote.

use std::collections::BTreeMap;

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
