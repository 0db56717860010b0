//! Helpers for the myhero end-to-end tests: start each service (through the
//! `myhero-stack` binary) or a real Debian mosquitto on a free loopback
//! port, wait until it answers, run real curl, and read vote totals.
#![forbid(unsafe_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use ferry_test_support::{Proc, TempDir, free_port, poll, temp_dir};

/// How long a service gets to start answering.
pub const START: Duration = Duration::from_secs(20);

/// A started service: its process and port.
#[derive(Debug)]
pub struct Service {
    /// The process (killed with its group on drop).
    pub proc: Proc,
    /// Its loopback port.
    pub port: u16,
}

impl Service {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Starts `myhero-stack <which>` from `bin` with `env` on `port`, logging
/// into `logs`, and waits until the port accepts connections.
pub fn start(
    bin: impl AsRef<Path>,
    which: &str,
    port: u16,
    env: &[(&str, String)],
    logs: &Path,
) -> Service {
    let mut cmd = Command::new(bin.as_ref());
    cmd.arg(which)
        .env_clear()
        .env("PORT", port.to_string())
        .env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc::spawn(&format!("{which}-{port}"), cmd, logs);
    wait_port(&proc, which, port);
    Service { proc, port }
}

fn wait_port(proc: &Proc, what: &str, port: u16) {
    poll(
        &format!("{what} to listen on 127.0.0.1:{port}"),
        START,
        || {
            assert!(
                proc.group_alive(),
                "{what} exited early:\n{}\n{}",
                proc.stdout(),
                proc.stderr()
            );
            TcpStream::connect(("127.0.0.1", port)).ok()
        },
    );
}

/// Path of Debian's mosquitto, or a panic saying how to install it.
pub fn mosquitto_bin() -> PathBuf {
    let p = PathBuf::from("/usr/sbin/mosquitto");
    assert!(
        p.exists(),
        "mosquitto is missing: run scripts/setup.sh --test-peers (installs Debian's mosquitto)"
    );
    p
}

/// Starts a real mosquitto on 127.0.0.1:`port` with persistence under `dir`.
pub fn mosquitto(port: u16, dir: &Path) -> Proc {
    let conf = dir.join(format!("mosquitto-{port}.conf"));
    let store = dir.join(format!("mosquitto-{port}"));
    std::fs::create_dir_all(&store).expect("mosquitto store dir");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 100000\nuser root\nlog_dest stdout\n",
            store.display()
        ),
    )
    .expect("write mosquitto.conf");
    let mut cmd = Command::new(mosquitto_bin());
    cmd.arg("-c").arg(&conf);
    let proc = Proc::spawn(&format!("mosquitto-{port}"), cmd, dir);
    wait_port(&proc, "mosquitto", port);
    proc
}

/// Runs curl with `args` (the tutorial's command line after `curl`),
/// returning (HTTP status, body). Panics clearly if curl is missing.
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}); run scripts/setup.sh to install it"));
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl status line");
    (code.trim().parse().expect("status code"), body.to_string())
}

/// Splits a tutorial command line (`curl -X GET -H "key: DevData" URL`)
/// into curl's arguments, honouring double quotes.
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Total votes myhero-data has durably counted (GET /results, no key).
pub fn data_total(data_url: &str) -> Option<u64> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let v: serde_json::Value = client
        .get(format!("{data_url}/results"))
        .send()
        .ok()?
        .json()
        .ok()?;
    Some(v.as_object()?.values().filter_map(|n| n.as_u64()).sum())
}

/// Votes myhero-data has counted for `hero`.
pub fn data_count(data_url: &str, hero: &str) -> Option<u64> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let v: serde_json::Value = client
        .get(format!("{data_url}/results"))
        .send()
        .ok()?
        .json()
        .ok()?;
    Some(v.get(hero).and_then(|n| n.as_u64()).unwrap_or(0))
}
