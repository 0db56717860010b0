//! Finding what a dynamically linked Linux binary needs at run time: its
//! program interpreter (the dynamic loader, `PT_INTERP`) and the transitive
//! closure of its `DT_NEEDED` libraries, searched the way `ld.so` does —
//! `DT_RPATH` (when there is no `DT_RUNPATH`), `DT_RUNPATH` (with
//! `$ORIGIN`), the directories of `/etc/ld.so.conf`, then the default
//! directories — skipping libraries of another ELF class or machine.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use crate::error::{Error, Result};

/// The default library directories, in ld.so's order on Debian.
const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// A binary's run-time dependencies: image path → host file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// The dynamic loader, if the binary is dynamically linked.
    pub interpreter: Option<String>,
    /// Every file to put into the image, keyed by its path in the image
    /// (the loader's path included), each pointing at the host file.
    pub files: BTreeMap<String, PathBuf>,
}

struct Info {
    is_64: bool,
    machine: u16,
    interpreter: Option<String>,
    needed: Vec<String>,
    search: Vec<String>,
}

fn inspect(path: &Path) -> Result<Info> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let elf = Elf::parse(&bytes)
        .map_err(|e| Error::Build(format!("{} is not a Linux ELF binary: {e}", path.display())))?;
    let origin = path
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .into_owned();
    let expand = |p: &&str| {
        p.split(':')
            .map(|d| d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
            .collect::<Vec<_>>()
    };
    let mut search: Vec<String> = Vec::new();
    if elf.runpaths.is_empty() {
        search.extend(elf.rpaths.iter().flat_map(expand));
    }
    search.extend(elf.runpaths.iter().flat_map(expand));
    Ok(Info {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        search,
    })
}

fn ld_so_conf_dirs() -> Vec<String> {
    fn read(path: &Path, out: &mut Vec<String>, depth: u32) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        for line in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
        {
            if let Some(pattern) = line.strip_prefix("include ") {
                let pattern = pattern.trim();
                let (dir, suffix) = pattern.rsplit_once('/').unwrap_or((".", pattern));
                let suffix = suffix.trim_start_matches('*');
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with(suffix))
                    .collect();
                files.sort();
                for f in files.iter().filter(|_| depth < 4) {
                    read(f, out, depth + 1);
                }
            } else if line.starts_with('/') {
                out.push(line.to_string());
            }
        }
    }
    let mut out = Vec::new();
    read(Path::new("/etc/ld.so.conf"), &mut out, 0);
    out
}

/// Resolves the loader and every library `binary` needs, transitively.
/// A statically linked binary needs nothing.
pub fn dependencies(binary: &Path) -> Result<Dependencies> {
    let root = inspect(binary)?;
    let mut deps = Dependencies {
        interpreter: root.interpreter.clone(),
        files: BTreeMap::new(),
    };
    if let Some(interp) = &root.interpreter {
        let host = std::fs::canonicalize(interp)
            .map_err(|e| Error::io("find the dynamic loader", interp, e))?;
        deps.files.insert(interp.clone(), host);
    }
    let conf = ld_so_conf_dirs();
    let mut queue: VecDeque<(String, Vec<String>)> = root
        .needed
        .iter()
        .map(|n| (n.clone(), root.search.clone()))
        .collect();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    while let Some((name, search)) = queue.pop_front() {
        if seen.insert(name.clone(), ()).is_some() {
            continue;
        }
        let found = if name.contains('/') {
            Some(PathBuf::from(&name))
        } else {
            search
                .iter()
                .map(String::as_str)
                .chain(conf.iter().map(String::as_str))
                .chain(DEFAULT_DIRS.iter().copied())
                .map(|d| Path::new(d).join(&name))
                .find(|p| {
                    p.is_file()
                        && inspect(p)
                            .is_ok_and(|i| i.is_64 == root.is_64 && i.machine == root.machine)
                })
        };
        let path = found.ok_or_else(|| {
            Error::Build(format!("{} needs {name}, which was not found on this host (install the package that provides it)", binary.display()))
        })?;
        let info = inspect(&path)?;
        let host = std::fs::canonicalize(&path).map_err(|e| Error::io("resolve", &path, e))?;
        if deps
            .interpreter
            .as_deref()
            .is_some_and(|i| std::fs::canonicalize(i).ok() == Some(host.clone()))
        {
            continue;
        }
        deps.files.insert(path.to_string_lossy().into_owned(), host);
        queue.extend(info.needed.into_iter().map(|n| (n, info.search.clone())));
    }
    Ok(deps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_busybox_needs_nothing() {
        let d = dependencies(Path::new("/bin/busybox")).unwrap();
        assert_eq!(d, Dependencies::default());
    }

    #[test]
    fn dynamic_binary_gets_loader_and_libc() {
        let d = dependencies(Path::new("/bin/ls")).unwrap();
        let interp = d.interpreter.clone().expect("ls is dynamically linked");
        assert!(d.files.contains_key(&interp));
        assert!(
            d.files.keys().any(|k| k.ends_with("/libc.so.6")),
            "{:?}",
            d.files
        );
        assert!(d.files.values().all(|p| p.is_file()));
    }

    #[test]
    fn non_elf_is_a_clear_error() {
        let e = dependencies(Path::new("/etc/passwd"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a Linux ELF binary"), "{e}");
    }
}
