//! Tearing a test node down without leaving anything behind (as
//! `scripts/k8s/down.sh`): pod tasks killed through containerd, containerd
//! stopped, shims that outlive it killed, mounts under the node's
//! directory detached, the CNI's pod namespaces deleted and the kubepods
//! cgroups removed.

use std::path::Path;
use std::process::Command;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Proc;

/// Cleans up after a node whose state lives under `dir`; `containerd` is
/// stopped after its tasks.
pub(crate) fn cleanup(dir: &Path, containerd: Option<Proc>) {
    let sock = dir.join("run/containerd/containerd.sock");
    if let Some(mut c) = containerd {
        kill_tasks(dir, &sock);
        c.kill();
    }
    kill_shims(&sock.display().to_string());
    detach_mounts(dir);
    delete_pod_namespaces();
    remove_kubepods_cgroups();
}

fn ctr(dir: &Path, sock: &Path, args: &[&str]) -> String {
    let bin = crate::peers_dir().join("k8s/root/usr/bin/ctr");
    let out = Command::new(bin)
        .arg("-a")
        .arg(sock)
        .args(["-n", "k8s.io"])
        .args(args)
        .current_dir(dir)
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn kill_tasks(dir: &Path, sock: &Path) {
    let tasks = ctr(dir, sock, &["tasks", "ls", "-q"]);
    for t in tasks.lines() {
        ctr(dir, sock, &["tasks", "kill", "-s", "SIGKILL", t]);
    }
    for t in tasks.lines() {
        crate::poll(
            "a pod task to stop",
            std::time::Duration::from_secs(10),
            || {
                ctr(dir, sock, &["tasks", "delete", "-f", t]);
                let gone = !ctr(dir, sock, &["tasks", "ls", "-q"])
                    .lines()
                    .any(|l| l == t);
                gone.then_some(())
            },
        );
    }
}

/// Kills every `containerd-shim` serving this node's containerd.
fn kill_shims(sock: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("containerd-shim") && cmdline.contains(sock) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Detaches every mount under `dir`, deepest first.
fn detach_mounts(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_unstable_by(|a, b| b.cmp(a));
    for p in points {
        let _ = umount2(p, MntFlags::MNT_DETACH);
    }
}

/// Deletes the `cni-*` pod namespaces that carry an address of the test
/// node's pod subnet.
fn delete_pod_namespaces() {
    let list = Command::new("ip").args(["netns", "list"]).output();
    let list = list
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if !name.starts_with("cni-") {
            continue;
        }
        let addrs = Command::new("ip")
            .args(["-n", name, "-o", "-4", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if addrs.contains(" inet 10.244.0.") {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// Removes the (empty) `kubepods` cgroup trees of every v1 controller.
fn remove_kubepods_cgroups() {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for c in controllers.flatten() {
        let top = c.path().join("kubepods");
        if top.is_dir() {
            remove_tree_of_dirs(&top);
        }
    }
}

fn remove_tree_of_dirs(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for c in children.flatten() {
            if c.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree_of_dirs(&c.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
