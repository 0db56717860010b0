//! No orphans: `ferry demo 2>&1 | tee demo.log`, then Ctrl-C, closes
//! ferry's output pipe before ferry handles the signal. A closed stdout or
//! stderr must never skip cleanup: these tests run ferry with both as pipes
//! the test closes, send SIGINT, and find no runc container, no mount
//! under the data directory (`/proc/self/mountinfo`) and the process gone.
//! A new `ferry demo` on a directory a killed demo left stops what it finds
//! and says so. Needs root and runc.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{api_url, cli, client_config, remember, up};
use ferry_test_support::{free_port, poll, temp_dir, topology_yaml};
use nix::sys::signal::Signal;

/// Containers runc knows under `root`.
fn containers(root: &Path) -> Vec<String> {
    let out = Command::new("runc")
        .arg("--root")
        .arg(root)
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Mount points below `dir` in this mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(&dir))
        .map(String::from)
        .collect()
}

/// Whatever a failed test leaves is removed, so one failure does not leak
/// containers and mounts into the machine.
struct Sweep(PathBuf);

impl Drop for Sweep {
    fn drop(&mut self) {
        for root in [
            self.0.join("local/runtime/runc"),
            self.0.join("uk/runtime/runc"),
        ] {
            for id in containers(&root) {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &id])
                    .status();
            }
        }
        let mut m = mounts_under(&self.0);
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in m {
            let _ = Command::new("umount").args(["-l", &p]).status();
        }
    }
}

/// A child whose stdout and stderr are non-blocking pipes the test drains
/// while it wants the output and closes when it wants them closed.
struct Piped {
    child: Child,
    out: Option<(std::process::ChildStdout, std::process::ChildStderr)>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Piped {
    fn spawn(mut cmd: Command) -> Self {
        use std::os::unix::process::CommandExt;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let (o, e) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        for fd in [o.as_fd(), e.as_fd()] {
            use nix::fcntl::{FcntlArg, OFlag, fcntl};
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        }
        Piped {
            child,
            out: Some((o, e)),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Reads what is waiting; returns stdout so far, then stderr so far.
    fn drain(&mut self) -> String {
        if let Some((o, e)) = self.out.as_mut() {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = o.read(&mut buf) {
                self.stdout.extend_from_slice(&buf[..n]);
            }
            while let Ok(n @ 1..) = e.read(&mut buf) {
                self.stderr.extend_from_slice(&buf[..n]);
            }
        }
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }

    /// Closes both pipes: every later write of the child fails with EPIPE.
    fn close_output(&mut self) {
        self.drain();
        self.out = None;
    }

    fn signal(&self, s: Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, s);
    }

    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The first of six consecutive free ports (`ferry demo --ports`).
fn six_free_ports() -> u16 {
    poll("six free ports", Duration::from_secs(10), || {
        let base = free_port();
        if base > 65000 {
            return None;
        }
        let held: Vec<_> = (base..base + 6)
            .map(|p| std::net::TcpListener::bind(("127.0.0.1", p)))
            .collect::<Result<_, _>>()
            .ok()?;
        drop(held);
        Some(base)
    })
}

fn web_manifest(dir: &Path) -> PathBuf {
    let store = ferry_image::Store::open(dir.join("local/runtime/images/store")).unwrap();
    ferry_image::build::busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, Some("web:v1"))
        .unwrap();
    let manifest = dir.join("web.yaml");
    std::fs::write(&manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: web\n        image: web:v1\n        imagePullPolicy: Never\n",
    ).unwrap();
    manifest
}

#[test]
fn up_with_closed_output_pipes_still_stops_everything_on_sigint() {
    let dir = temp_dir();
    let _sweep = Sweep(dir.path().to_path_buf());
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], dir.path())).unwrap();
    let manifest = web_manifest(dir.path());
    let mut cmd = common::ferry();
    cmd.args(["up", "-f"])
        .arg(&topo)
        .args(["-o", "json"])
        .env("RUST_LOG", "info")
        .env("FERRY_CONFIG", client_config(dir.path()));
    let mut ferry = Piped::spawn(cmd);
    let endpoints: serde_json::Value = poll("endpoint table", Duration::from_secs(20), || {
        ferry.drain();
        let text = String::from_utf8_lossy(&ferry.stdout).into_owned();
        let end = text.find("\n]")?;
        let start = text.find('[')?;
        serde_json::from_str(&text[start..end + 2]).ok()
    });
    let api = api_url(&endpoints);
    remember(&api, client_config(dir.path()));
    poll("region ready", Duration::from_secs(20), || {
        ferry.drain();
        ferry_test_support::http_ok(&format!("{api}/readyz")).then_some(())
    });
    let out = cli(&api, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = dir.path().join("local/runtime/runc");
    poll("a running container", Duration::from_secs(60), || {
        ferry.drain();
        (!containers(&root).is_empty()).then_some(())
    });
    assert!(
        !mounts_under(dir.path()).is_empty(),
        "the pod mounts its rootfs and netns"
    );

    ferry.close_output();
    ferry.signal(Signal::SIGINT);
    let status = ferry
        .wait(Duration::from_secs(45))
        .expect("ferry exits after SIGINT even with its output closed");
    assert!(status.success(), "exit status {status:?} (a panic is 101)");
    assert_eq!(
        containers(&root),
        Vec::<String>::new(),
        "containers left running"
    );
    assert_eq!(
        mounts_under(dir.path()),
        Vec::<String>::new(),
        "mounts left"
    );
}

/// A directory a killed `ferry demo` left: a region's runtime whose ferry
/// was SIGKILLed with a pod running, and the demo's marker.
fn killed_demo_dir(dir: &Path) -> PathBuf {
    let demo = dir.join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    let topo = demo.join("topology.yaml");
    std::fs::write(&topo, topology_yaml(&["local"], &demo)).unwrap();
    let manifest = web_manifest(&demo);
    let (mut first, api) = up(&topo, &demo);
    let out = cli(&api, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = demo.join("local/runtime/runc");
    poll("a running container", Duration::from_secs(60), || {
        (!containers(&root).is_empty()).then_some(())
    });
    first.signal(Signal::SIGKILL);
    first
        .wait_timeout(Duration::from_secs(10))
        .expect("SIGKILL ends ferry");
    std::fs::write(demo.join(".ferry-demo"), "created by ferry demo\n").unwrap();
    demo
}

#[test]
fn a_new_demo_stops_what_a_killed_demo_left_and_says_so() {
    let dir = temp_dir();
    let demo = killed_demo_dir(dir.path());
    let _sweep = Sweep(demo.clone());
    let left = containers(&demo.join("local/runtime/runc"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!mounts_under(&demo).is_empty());

    // No myhero binaries: the demo stops right after preparing its
    // directory, which is the part under test.
    let mut cmd = common::ferry();
    cmd.arg("demo")
        .args(["--ports", &six_free_ports().to_string()])
        .arg("--dir")
        .arg(&demo)
        .arg("--bin")
        .arg(dir.path().join("no-binaries"))
        .env("FERRY_CONFIG", client_config(dir.path()));
    let mut ferry = Piped::spawn(cmd);
    let status = ferry.wait(Duration::from_secs(60)).expect("demo exits");
    let out = ferry.drain();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("a previous ferry demo")
            && out.contains("1 container(s)")
            && out.contains(&left[0]),
        "the demo says what it stopped: {out}"
    );
    assert_eq!(
        mounts_under(&demo),
        Vec::<String>::new(),
        "mounts left: {out}"
    );
    assert!(!demo.exists(), "the demo directory is removed: {out}");
}

#[test]
fn demo_interrupted_while_starting_with_its_pipe_closed_cleans_up() {
    let dir = temp_dir();
    let demo = dir.path().join("demo");
    let _sweep = Sweep(demo.clone());
    // Stand-ins for the myhero binaries: the demo is interrupted long
    // before anything runs them.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for b in ["myhero-data", "myhero-app"] {
        std::fs::copy("/bin/true", bin.join(b)).unwrap();
    }
    let base = six_free_ports();
    let mut cmd = common::ferry();
    cmd.arg("demo")
        .args(["--ports", &base.to_string()])
        .arg("--dir")
        .arg(&demo)
        .arg("--bin")
        .arg(&bin)
        .env("FERRY_CONFIG", client_config(dir.path()));
    let mut ferry = Piped::spawn(cmd);
    poll("the demo's regions", Duration::from_secs(60), || {
        let text = ferry.drain();
        assert!(
            ferry.child.try_wait().unwrap().is_none(),
            "demo exited: {text}"
        );
        text.contains("starting regions").then_some(())?;
        ferry_test_support::http_ok(&format!("http://127.0.0.1:{base}/healthz")).then_some(())
    });
    ferry.close_output();
    ferry.signal(Signal::SIGINT);
    let status = ferry
        .wait(Duration::from_secs(60))
        .expect("Ctrl-C stops the demo at any step, output closed or not");
    assert!(status.success(), "exit status {status:?} (a panic is 101)");
    assert_eq!(mounts_under(&demo), Vec::<String>::new(), "mounts left");
    assert!(!demo.exists(), "the demo directory is removed");
}
