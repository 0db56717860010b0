//! A child process in its own process group, killed with its whole group on
//! drop, with stdout and stderr captured to files that are printed when the
//! owning test panics.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A running child process; see the module docs.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    grace: Option<Duration>,
}

impl Proc {
    /// Starts `cmd` in a new process group, logging into `log_dir`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> Proc {
        use std::os::unix::process::CommandExt;
        let stdout = log_dir.join(format!("{name}.stdout.log"));
        let stderr = log_dir.join(format!("{name}.stderr.log"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create stdout log"))
            .stderr(File::create(&stderr).expect("create stderr log"))
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            grace: None,
        }
    }

    /// On drop, send SIGTERM and wait up to `grace` before killing the
    /// group: for a `ferry` that runs containers, which live outside its
    /// process group and outlive a SIGKILL by design (the runtime re-adopts
    /// them), so only a graceful stop removes them.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child has written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What the child has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `signal` to the child only (not its group).
    pub fn signal(&self, signal: Signal) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.pid() as i32), signal);
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when any process of the child's group is still alive.
    pub fn group_alive(&self) -> bool {
        killpg(Pid::from_raw(self.pid() as i32), None).is_ok()
    }

    /// Kills the whole process group with SIGKILL and reaps the child.
    pub fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    /// With a grace period, asks the child to stop (SIGTERM) and waits for
    /// it first; then kills the whole group.
    fn drop(&mut self) {
        if let Some(grace) = self.grace
            && matches!(self.child.try_wait(), Ok(None))
        {
            self.signal(Signal::SIGTERM);
            let _ = self.wait_timeout(grace);
        }
        self.kill();
        if std::thread::panicking() {
            eprintln!("----- {} stdout -----\n{}", self.name, self.stdout());
            eprintln!("----- {} stderr -----\n{}", self.name, self.stderr());
        }
    }
}
