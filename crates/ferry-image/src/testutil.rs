//! Test helpers (feature `test-util`): a CNCF Distribution registry on a
//! loopback port, built by `scripts/setup.sh --test-peers`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry_test_support::Proc;

pub use ferry_test_support::peers_dir;

/// A running Distribution registry; killed on drop.
#[derive(Debug)]
pub struct Distribution {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub root: PathBuf,
}

impl Distribution {
    /// Starts Distribution with storage under `dir` on a free port.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(dir, ferry_test_support::free_addr())
    }

    /// Starts Distribution with storage under `dir` on `addr` (to restart
    /// one on the same address).
    pub fn start_on(dir: &Path, addr: SocketAddr) -> Self {
        Self::start_with(dir, addr, None)
    }

    /// Like [`Distribution::start`], demanding HTTP basic auth from the
    /// users of `htpasswd` (bcrypt lines, `user:$2y$...`).
    pub fn start_with_htpasswd(dir: &Path, htpasswd: &str) -> Self {
        Self::start_with(dir, ferry_test_support::free_addr(), Some(htpasswd))
    }

    /// True when the Distribution binary is installed in [`peers_dir`].
    pub fn available() -> bool {
        peers_dir().join("registry").exists()
    }

    fn start_with(dir: &Path, addr: SocketAddr, htpasswd: Option<&str>) -> Self {
        let bin = peers_dir().join("registry");
        assert!(
            bin.exists(),
            "{} missing: run scripts/setup.sh --test-peers",
            bin.display()
        );
        let root = dir.join("storage");
        std::fs::create_dir_all(&root).unwrap();
        let config = dir.join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            root.display()
        );
        if let Some(users) = htpasswd {
            let file = dir.join("htpasswd");
            std::fs::write(&file, format!("{users}\n")).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(&config)
            .env("OTEL_TRACES_EXPORTER", "none");
        let proc = Proc::spawn(&format!("distribution-{}", addr.port()), cmd, dir);
        ferry_test_support::poll(
            "distribution to answer /v2/",
            Duration::from_secs(20),
            || answers_v2(addr, htpasswd.is_some()).then_some(()),
        );
        Self { proc, addr, root }
    }

    /// `127.0.0.1:port`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// True when `GET /v2/` on `addr` answers 200, or 401 when `auth` (plain
/// std IO, so it works inside async tests too).
pub fn answers_v2(addr: SocketAddr, auth: bool) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && (buf.ends_with(b"200") || auth && buf.ends_with(b"401"))
}
