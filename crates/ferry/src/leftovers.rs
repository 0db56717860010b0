//! What a ferry process that died without shutting down (SIGKILL, a crash,
//! a panic) leaves under its data directory: runc containers still running
//! under the runtime's runc root, and mounts (overlay root filesystems,
//! network-namespace binds, secret tmpfs). `ferry up` reports them before
//! its runtime re-adopts the pods it still stores; `ferry demo` starts from
//! nothing, so it stops and removes them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Containers and mounts found under a data directory.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// (runc root, container id)
    pub containers: Vec<(PathBuf, String)>,
    /// Mount points under the directory, deepest first.
    pub mounts: Vec<PathBuf>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.mounts.is_empty()
    }

    /// "2 containers (ferry-…-ui, ferry-…-app) and 5 mounts".
    pub fn summary(&self) -> String {
        let ids: Vec<&str> = self.containers.iter().map(|(_, id)| id.as_str()).collect();
        format!(
            "{} container(s){} and {} mount(s)",
            ids.len(),
            if ids.is_empty() {
                String::new()
            } else {
                format!(" ({})", ids.join(", "))
            },
            self.mounts.len()
        )
    }
}

/// Finds runc containers under every `runc` root below `dir` (a region's
/// `runtime/runc`, at most four levels down) and every mount below `dir`.
pub fn find(dir: &Path) -> Leftovers {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut roots = Vec::new();
    runc_roots(&dir, 4, &mut roots);
    let containers = roots
        .into_iter()
        .flat_map(|root| list(&root).into_iter().map(move |id| (root.clone(), id)))
        .collect();
    Leftovers {
        containers,
        mounts: mounts_under(&dir),
    }
}

/// Stops and deletes every container, then unmounts every mount (lazily,
/// deepest first). Returns what could not be removed.
pub fn clean(found: &Leftovers) -> Vec<String> {
    let mut failed = Vec::new();
    for (root, id) in &found.containers {
        let ok = Command::new("runc")
            .arg("--root")
            .arg(root)
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            failed.push(format!("container {id} (runc root {})", root.display()));
        }
    }
    for m in &found.mounts {
        if let Err(e) = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH) {
            // Gone already (a parent's lazy unmount took it) is fine.
            if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT {
                failed.push(format!("mount {} ({e})", m.display()));
            }
        }
    }
    failed
}

fn runc_roots(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if !t.is_dir() {
            continue;
        }
        let p = e.path();
        if e.file_name() == "runc" && p.parent().is_some_and(|d| d.ends_with("runtime")) {
            out.push(p);
        } else if depth > 1 && e.file_name() != "pods" && e.file_name() != "images" {
            runc_roots(&p, depth - 1, out);
        }
    }
}

/// Container ids runc knows under `root`.
fn list(root: &Path) -> Vec<String> {
    let out = Command::new("runc")
        .arg("--root")
        .arg(root)
        .args(["list", "-q"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// Mount points strictly below `dir` (this mount namespace), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir) && m != dir)
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            out.push(
                d.iter()
                    .fold(0u8, |v, c| v.wrapping_mul(8).wrapping_add(c - b'0')),
            );
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/a\040b/c"), "/a b/c");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\"), "/end\\");
    }

    #[test]
    fn nothing_under_a_fresh_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("uk/runtime/runc")).unwrap();
        let found = find(dir.path());
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(found.summary(), "0 container(s) and 0 mount(s)");
    }
}
