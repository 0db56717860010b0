//! What a RUN step changed in a root filesystem: a snapshot of every
//! path's metadata (inode, size, mode, owner, mtime and ctime in
//! nanoseconds) before and after, compared. New and changed paths become
//! entries (with their parent directories), deleted ones whiteouts.
//! Mount points the runtime provides (`/proc`, `/sys`, `/dev`, cache
//! mounts) are not walked.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ferry_image::build::layer::{Entry, Layer, Owner};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Metadata of every path below a root.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    paths: BTreeMap<String, Meta>,
}

/// Walks `root`, skipping the relative paths in `skip` (and below them).
pub fn snapshot(root: &Path, skip: &[String]) -> io::Result<Snapshot> {
    let mut s = Snapshot::default();
    walk(root, "", skip, &mut s.paths)?;
    Ok(s)
}

fn walk(
    dir: &Path,
    rel: &str,
    skip: &[String],
    out: &mut BTreeMap<String, Meta>,
) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if skip.iter().any(|s| s == &r) {
            continue;
        }
        let m = e.metadata()?;
        out.insert(
            r.clone(),
            Meta {
                ino: m.ino(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                size: m.size(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            },
        );
        if m.is_dir() {
            walk(&e.path(), &r, skip, out)?;
        }
    }
    Ok(())
}

/// The layer turning `before` into `after` (the tree at `root`).
pub fn diff(root: &Path, before: &Snapshot, after: &Snapshot) -> io::Result<Layer> {
    let mut out = Layer::new();
    let put = |out: &mut Layer, path: &str, entry: Entry, owner: Owner| {
        out.put(path, entry, owner).map_err(io::Error::other)
    };
    for (path, m) in &after.paths {
        if before.paths.get(path) == Some(m) {
            continue;
        }
        let Some(entry) = entry_of(root, path, m.mode)? else {
            continue;
        };
        put(&mut out, path, entry, owner(m))?;
    }
    for path in before.paths.keys() {
        if after.paths.contains_key(path) {
            continue;
        }
        let parent_gone = path
            .rsplit_once('/')
            .is_some_and(|(p, _)| !after.paths.contains_key(p));
        if !parent_gone {
            put(&mut out, path, Entry::Whiteout, Owner::ROOT)?;
        }
    }
    // Parents keep their current metadata, so extracting the layer does not
    // change directories the step left alone.
    let paths: Vec<String> = out.iter().map(|(p, _, _)| p.to_string()).collect();
    for path in paths {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if out.contains(parent) {
                break;
            }
            if let Some(m) = after.paths.get(parent) {
                let dir = Entry::Dir {
                    mode: m.mode & 0o7777,
                };
                put(&mut out, parent, dir, owner(m))?;
            }
            p = parent;
        }
    }
    Ok(out)
}

fn owner(m: &Meta) -> Owner {
    Owner {
        uid: m.uid,
        gid: m.gid,
    }
}

fn entry_of(root: &Path, path: &str, mode: u32) -> io::Result<Option<Entry>> {
    let full = root.join(path);
    let perm = mode & 0o7777;
    Ok(match mode & libc_s_ifmt() {
        0o040000 => Some(Entry::Dir { mode: perm }),
        0o100000 => Some(Entry::File {
            source: full,
            mode: perm,
        }),
        0o120000 => Some(Entry::Symlink {
            target: fs::read_link(&full)?.to_string_lossy().into_owned(),
        }),
        _ => None, // devices, fifos and sockets made by a step are not kept
    })
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_new_changed_and_deleted() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("keep/sub")).unwrap();
        fs::create_dir_all(r.join("olddir/inner")).unwrap();
        fs::create_dir_all(r.join("proc")).unwrap();
        fs::write(r.join("keep/same"), "1").unwrap();
        fs::write(r.join("keep/sub/change"), "1").unwrap();
        fs::write(r.join("del"), "1").unwrap();
        let skip = vec!["proc".to_string()];
        let before = snapshot(r, &skip).unwrap();
        fs::write(r.join("keep/sub/change"), "22").unwrap();
        fs::write(r.join("new"), "n").unwrap();
        fs::write(r.join("proc/ignored"), "n").unwrap();
        fs::remove_file(r.join("del")).unwrap();
        fs::remove_dir_all(r.join("olddir")).unwrap();
        let after = snapshot(r, &skip).unwrap();
        let e = diff(r, &before, &after).unwrap();
        let keys: Vec<&str> = e.iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            keys,
            vec![
                "del",
                "keep",
                "keep/sub",
                "keep/sub/change",
                "new",
                "olddir"
            ]
        );
        assert_eq!(e.get("del").unwrap().0, &Entry::Whiteout);
        assert_eq!(e.get("olddir").unwrap().0, &Entry::Whiteout);
        assert!(matches!(e.get("keep").unwrap().0, Entry::Dir { .. }));
    }
}
