//! TLS material on disk: the CA is made once and reused, keys are 0600,
//! certificates name what clients dial.

use std::os::unix::fs::PermissionsExt;

use ferry_core::topology::Topology;

use super::*;

fn region(tls: &str) -> Region {
    let text = format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: uk}}\nspec:\n  listeners: {{api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n{tls}"
    );
    Topology::from_sources(&[("t.yaml".into(), text)])
        .unwrap()
        .regions
        .remove(0)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn generated_ca_is_reused_and_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let r = region("  tls: {generate: true}\n  registry: {tls: {generate: true}}\n");
    let addr: SocketAddr = "127.0.0.1:7070".parse().unwrap();
    let first = prepare(&r, dir.path(), dir.path(), addr, addr).unwrap();
    let tls = dir.path().join("tls");
    assert_eq!(first.api_ca.as_deref(), Some(tls.join("ca.crt").as_path()));
    assert_eq!(first.api.as_ref().unwrap().cert, tls.join("api.crt"));
    assert_eq!(
        first.registry.as_ref().unwrap().cert_file,
        tls.join("registry.crt")
    );
    for key in ["ca.key", "api.key", "registry.key"] {
        assert_eq!(mode(&tls.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&tls), 0o700);
    let ca = std::fs::read(tls.join("ca.crt")).unwrap();
    let api = std::fs::read(tls.join("api.crt")).unwrap();
    prepare(&r, dir.path(), dir.path(), addr, addr).unwrap();
    assert_eq!(std::fs::read(tls.join("ca.crt")).unwrap(), ca, "CA remade");
    assert_ne!(std::fs::read(tls.join("api.crt")).unwrap(), api);
}

#[test]
fn named_files_resolve_against_the_topology_directory() {
    let r = region("  tls: {certFile: c/api.crt, keyFile: /etc/k.key, caFile: ca.crt}\n");
    let addr: SocketAddr = "127.0.0.1:7070".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = prepare(&r, dir.path(), Path::new("/conf"), addr, addr).unwrap();
    let api = t.api.unwrap();
    assert_eq!(api.cert, Path::new("/conf/c/api.crt"));
    assert_eq!(api.key, Path::new("/etc/k.key"));
    assert_eq!(t.api_ca.as_deref(), Some(Path::new("/conf/ca.crt")));
    assert!(
        !dir.path().join("tls").exists(),
        "no CA made for named files"
    );
    let none = prepare(&region(""), dir.path(), dir.path(), addr, addr).unwrap();
    assert!(none.api.is_none() && none.registry.is_none());
}

#[test]
fn certificate_names_cover_loopback_the_bound_address_and_hostnames() {
    let sans = names(
        "10.0.0.7".parse().unwrap(),
        &[
            "Ferry.Example.org".into(),
            "10.0.0.7".into(),
            "2001:db8::1".into(),
        ],
    )
    .unwrap();
    let text: Vec<String> = sans.iter().map(|s| format!("{s:?}")).collect();
    for want in [
        "localhost",
        "127.0.0.1",
        "::1",
        "10.0.0.7",
        "ferry.example.org",
        "2001:db8::1",
    ] {
        assert!(text.iter().any(|t| t.contains(want)), "{want} in {text:?}");
    }
    assert_eq!(text.iter().filter(|t| t.contains("10.0.0.7")).count(), 1);
    let unspecified = names("0.0.0.0".parse().unwrap(), &[]).unwrap();
    assert_eq!(unspecified.len(), 3);
}
