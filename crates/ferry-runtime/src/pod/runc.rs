//! Drives the OCI runtime binary (runc, crun or youki share this CLI):
//! run detached with the container's output going straight to its log file
//! (so containers outlive a ferry restart), kill, delete, state, exec.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Error, Result};

/// The OCI runtime CLI with its state directory.
#[derive(Debug, Clone)]
pub struct Runc {
    pub bin: String,
    pub root: PathBuf,
}

/// Output of an exec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Runc {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c.kill_on_drop(true);
        c
    }

    fn fail(&self, action: &str, out: &std::process::Output) -> Error {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = format!("exit status {}", out.status);
        }
        Error::Oci {
            runtime: self.bin.clone(),
            action: action.to_string(),
            message,
        }
    }

    /// Starts container `id` from `bundle`, detached, stdout and stderr
    /// appended to `log`; returns the container's pid.
    pub async fn run(&self, id: &str, bundle: &Path, log: &Path) -> Result<i32> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io("cannot open log", log, e))?;
        let err_file = file
            .try_clone()
            .map_err(|e| Error::io("cannot open log", log, e))?;
        let pid_file = bundle.join("pid");
        let _ = std::fs::remove_file(&pid_file);
        let runc_log = bundle.join("runc.log");
        let _ = std::fs::remove_file(&runc_log);
        let status = self
            .cmd()
            .arg("--log")
            .arg(&runc_log)
            .args(["run", "--detach", "--no-new-keyring", "--pid-file"])
            .arg(&pid_file)
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file))
            // Containers get their own process group: a Ctrl-C or a signal
            // to ferry's group must not reach them.
            .process_group(0)
            .status()
            .await
            .map_err(|e| Error::Oci {
                runtime: self.bin.clone(),
                action: "run".into(),
                message: e.to_string(),
            })?;
        if !status.success() {
            let log_text = std::fs::read_to_string(&runc_log).unwrap_or_default();
            let message = log_text
                .lines()
                .rev()
                .find(|l| l.contains("level=error") || l.contains("\"level\":\"error\""))
                .unwrap_or("container failed to start")
                .to_string();
            let _ = self.delete(id).await;
            return Err(Error::Oci {
                runtime: self.bin.clone(),
                action: "run".into(),
                message,
            });
        }
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Error::Oci {
                runtime: self.bin.clone(),
                action: "run".into(),
                message: "no pid file".into(),
            })?;
        Ok(pid)
    }

    /// Sends `signal` (`TERM`, `KILL`) to the container's processes.
    pub async fn kill(&self, id: &str, signal: &str) {
        let _ = self
            .cmd()
            .args(["kill", "--all", id, signal])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }

    /// Removes the container (forcibly); its cgroup goes with it.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let out = self
            .cmd()
            .args(["delete", "--force", id])
            .output()
            .await
            .map_err(|e| Error::Oci {
                runtime: self.bin.clone(),
                action: "delete".into(),
                message: e.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || stderr.contains("does not exist") || stderr.contains("not exist")
        {
            Ok(())
        } else {
            Err(self.fail("delete", &out))
        }
    }

    /// `(status, pid)` of a container runc knows.
    pub async fn state(&self, id: &str) -> Option<(String, i32)> {
        let out = self.cmd().args(["state", id]).output().await.ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some((v["status"].as_str()?.to_string(), v["pid"].as_i64()? as i32))
    }

    /// Runs `args` inside container `id`, collecting output, killed after `timeout`.
    pub async fn exec(&self, id: &str, args: &[String], timeout: Duration) -> Result<ExecOutput> {
        let mut c = self.cmd();
        c.args(["exec", id])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let fut = c.output();
        let out = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(|e| Error::Oci {
                runtime: self.bin.clone(),
                action: "exec".into(),
                message: e.to_string(),
            })?,
            Err(_) => {
                return Ok(ExecOutput {
                    exit_code: 124,
                    stdout: String::new(),
                    stderr: "timed out".into(),
                });
            }
        };
        Ok(ExecOutput {
            exit_code: out.status.code().unwrap_or(128),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
