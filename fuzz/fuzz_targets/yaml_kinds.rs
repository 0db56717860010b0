//! The strict YAML loader over every kind a user hands ferry: the text goes
//! through `ferry_core::yaml::parse_documents`, then as a topology file
//! (Region, Environment, Application, Pipeline, ReplicationRule) and as an
//! `apply` (every Kubernetes kind the runtime stores, with the gateway's
//! kinds validated by its compiler, as `ferry up` wires them). Properties:
//! documents are non-null with dense indices; every problem names the file
//! it came from; the same text gives the same verdict twice.

#![no_main]

use std::sync::Arc;

use ferry_core::error::Problems;
use ferry_core::objects::{GroupKind, KindOwner, StoredObject};
use ferry_core::topology::Topology;
use libfuzzer_sys::fuzz_target;

/// The gateway's kinds, validated by its compiler (as `GatewayKinds` does,
/// without a running gateway).
#[derive(Debug)]
struct Routes;

impl KindOwner for Routes {
    fn kinds(&self) -> Vec<GroupKind> {
        ferry_gateway::config::kinds()
    }

    fn validate(&self, proposed: &[Arc<StoredObject>]) -> Result<(), Problems> {
        ferry_gateway::compile::compile(proposed).map(|_| ())
    }

    fn update(&self, _: Vec<Arc<StoredObject>>) {}
}

fn files_named(problems: &Problems, file: &str) {
    assert!(!problems.is_empty(), "an error without a problem");
    for p in &problems.0 {
        assert!(
            p.file.starts_with(file),
            "problem names `{}`, not `{file}`: {p}",
            p.file
        );
    }
}

fuzz_target!(|text: &str| {
    if let Ok(docs) = ferry_core::yaml::parse_documents("f.yaml", text) {
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(d.index, i);
            assert!(!d.value.is_null());
            let _ = d.label();
        }
    }

    let sources = [("topology.yaml".to_string(), text.to_string())];
    let topo = Topology::from_sources(&sources);
    if let Err(ferry_core::Error::Invalid(problems)) = &topo {
        files_named(problems, "topology.yaml");
    }
    assert_eq!(
        Topology::from_sources(&sources).ok(),
        topo.ok(),
        "not deterministic"
    );

    let owners: Vec<Arc<dyn KindOwner>> = vec![Arc::new(Routes)];
    let sources = [("m.yaml".to_string(), text.to_string())];
    let planned = ferry_runtime::plan_manifests(&sources, &owners);
    if let Err(problems) = &planned {
        files_named(problems, "m.yaml");
    }
    let again = ferry_runtime::plan_manifests(&sources, &owners);
    assert_eq!(again.is_ok(), planned.is_ok(), "not deterministic");
});
