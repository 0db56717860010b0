//! Running a RUN step: an OCI runtime bundle (config.json built with
//! `oci-spec`) over the stage's root filesystem, executed with `runc run`.
//! New pid, mount, ipc, uts, cgroup and network namespaces — the network
//! namespace is empty, so steps have no network unless `--network=host`.
//! Output is streamed line by line; the last lines are kept for the error
//! message when the step fails.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder,
    RootBuilder, Spec, UserBuilder,
};

use crate::error::{Error, Result};

/// Lines of output kept for a failed step's error.
pub const TAIL_LINES: usize = 20;

/// One container run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Share the host's network namespace (`RUN --network=host`).
    pub host_network: bool,
    /// Host directory → container path bind mounts (cache mounts).
    pub binds: Vec<(PathBuf, String)>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub code: i32,
    pub tail: String,
}

/// The runtime config for `spec`.
pub fn runtime_spec(spec: &RunSpec) -> Result<Spec> {
    let e = |e: oci_spec::OciSpecError| Error::Options(format!("runtime spec: {e}"));
    let caps: HashSet<Capability> = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(e)?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()
        .map_err(e)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(spec.args.clone())
        .env(spec.env.clone())
        .cwd(spec.cwd.clone())
        .user(user)
        .capabilities(capabilities)
        .no_new_privileges(true)
        .build()
        .map_err(e)?;
    let mut s = Spec::default();
    s.set_hostname(Some("ferry-build".into()));
    s.set_process(Some(process));
    s.set_root(Some(
        RootBuilder::default()
            .path(&spec.rootfs)
            .readonly(false)
            .build()
            .map_err(e)?,
    ));
    let mut mounts: Vec<Mount> = s.mounts().clone().unwrap_or_default();
    for (src, dst) in &spec.binds {
        mounts.push(
            MountBuilder::default()
                .destination(dst)
                .typ("bind")
                .source(src)
                .options(vec!["rbind".to_string(), "rw".to_string()])
                .build()
                .map_err(e)?,
        );
    }
    s.set_mounts(Some(mounts));
    if let Some(linux) = s.linux_mut() {
        if spec.host_network
            && let Some(ns) = linux.namespaces_mut()
        {
            ns.retain(|n| n.typ() != LinuxNamespaceType::Network);
        }
        linux.set_resources(None);
    }
    Ok(s)
}

/// Runs `spec` with runc in `bundle` (a fresh directory), streaming output
/// lines to `on_line`.
pub fn run(
    bundle: &Path,
    id: &str,
    spec: &RunSpec,
    on_line: &mut dyn FnMut(&str),
) -> Result<RunResult> {
    std::fs::create_dir_all(bundle).map_err(|e| Error::io(bundle, e))?;
    let config = runtime_spec(spec)?;
    let cfg_path = bundle.join("config.json");
    let json =
        serde_json::to_vec(&config).map_err(|e| Error::Options(format!("runtime spec: {e}")))?;
    std::fs::write(&cfg_path, json).map_err(|e| Error::io(&cfg_path, e))?;
    let state = bundle.join("runc-state");
    let mut child = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("runc", e))?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut lines = Vec::new();
        if let Some(s) = stderr {
            for l in BufReader::new(s).lines().map_while(|l| l.ok()) {
                lines.push(l);
            }
        }
        lines
    });
    let mut tail: VecDeque<String> = VecDeque::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            on_line(&line);
            push_tail(&mut tail, line);
        }
    }
    let status = child.wait().map_err(|e| Error::io("runc", e))?;
    for line in err_thread.join().unwrap_or_default() {
        on_line(&line);
        push_tail(&mut tail, line);
    }
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", id])
        .output();
    let code = status.code().unwrap_or(128);
    Ok(RunResult {
        code,
        tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
    })
}

fn push_tail(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_empty_netns_unless_host() {
        let mut rs = RunSpec {
            rootfs: "/r".into(),
            args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec![],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            host_network: false,
            binds: vec![("/cache".into(), "/root/.cache".into())],
        };
        let s = runtime_spec(&rs).unwrap();
        let has_net = |s: &Spec| {
            s.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network)
        };
        assert!(has_net(&s));
        assert!(
            s.mounts()
                .as_ref()
                .unwrap()
                .iter()
                .any(|m| m.destination() == Path::new("/root/.cache"))
        );
        rs.host_network = true;
        assert!(!has_net(&runtime_spec(&rs).unwrap()));
    }
}
