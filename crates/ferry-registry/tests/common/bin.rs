//! Locates (building if needed) the `ferry` binary for tests that run
//! `ferry registry serve|gc` and `ferry up` as real processes.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The path of `target/<profile>/ferry`, built once per test binary
/// (`$FERRY_TEST_BIN` overrides it).
pub fn ferry() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FERRY_TEST_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>/deps/<test>")
            .to_path_buf();
        let bin = profile_dir.join("ferry");
        // `cargo test --workspace` has built it already; alone, build it.
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "ferry", "--bin", "ferry"])
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
            .status()
            .expect("run cargo build");
        assert!(
            status.success() || bin.exists(),
            "cannot build the ferry binary"
        );
        bin
    })
    .clone()
}
