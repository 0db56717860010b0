//! Layer unpacking (`ferry_image::unpack::unpack_layer`) over arbitrary
//! bytes (plain, gzip or zstd tar). The root is a fresh directory inside a
//! parent that holds a sentinel file, inside a grandparent that holds
//! another: after unpacking, whatever the result, both directories list
//! exactly what they held, the sentinels are unchanged (content, mode,
//! owner, link count: a hardlink to one would show) and the root is still a
//! real directory. Anything else means an entry reached outside the root.
//! Header checksums of a plain tar are fixed up before unpacking, so that
//! mutated names, types and link targets get past the tar reader.

#![no_main]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ferry_image::unpack::{UnpackOptions, unpack_layer};
use libfuzzer_sys::fuzz_target;

const SENTINEL: &[u8] = b"outside the root: must stay as it is\n";

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} (outside the root) cannot be listed: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What must not change about a sentinel.
fn state(path: &Path) -> (bool, u64, u32, u32, u32, Vec<u8>) {
    let meta = fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("sentinel {} is gone: {e}", path.display()));
    let content = if meta.file_type().is_file() {
        fs::read(path).expect("read sentinel")
    } else {
        Vec::new()
    };
    let kind = meta.file_type().is_file();
    (
        kind,
        meta.nlink(),
        meta.mode(),
        meta.uid(),
        meta.gid(),
        content,
    )
}

/// Walks the headers of a plain tar (each followed by its data, rounded up
/// to 512-byte blocks) and rewrites their checksums.
fn fix_checksums(tar: &mut [u8]) {
    let mut at = 0;
    while tar.len().saturating_sub(at) >= 512 {
        let header = &mut tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            at += 512;
            continue;
        }
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let size = std::str::from_utf8(&header[124..136])
            .ok()
            .and_then(|s| {
                u64::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()
            })
            .unwrap_or(0);
        let Some(next) = usize::try_from(size.div_ceil(512).saturating_mul(512))
            .ok()
            .and_then(|n| n.checked_add(at + 512))
        else {
            return;
        };
        at = next;
    }
}

/// Read-only directories from the archive would stop the temp dir's
/// removal when not running as root.
fn make_removable(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755));
            make_removable(&e.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    if !data.starts_with(&[0x1f, 0x8b]) && !data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        fix_checksums(&mut data);
    }
    let grand = tempfile::tempdir().expect("temp dir");
    let parent = grand.path().join("parent");
    let root = parent.join("root");
    fs::create_dir_all(&root).expect("create root");
    let sentinels = [grand.path().join("sentinel"), parent.join("sentinel")];
    for s in &sentinels {
        fs::write(s, SENTINEL).expect("write sentinel");
    }
    let before: Vec<_> = sentinels.iter().map(|s| state(s)).collect();
    let listed = (listing(grand.path()), listing(&parent));

    let _ = unpack_layer(
        &data[..],
        &root,
        "fuzz-layer",
        None,
        &UnpackOptions::default(),
    );

    assert_eq!(
        listing(grand.path()),
        listed.0,
        "an entry landed beside the parent"
    );
    assert_eq!(
        listing(&parent),
        listed.1,
        "an entry landed beside the root"
    );
    for (s, was) in sentinels.iter().zip(&before) {
        assert_eq!(&state(s), was, "sentinel {} changed", s.display());
    }
    let meta = fs::symlink_metadata(&root).expect("the root is gone");
    assert!(
        meta.file_type().is_dir(),
        "the root was replaced by a non-directory"
    );
    let _ = fs::set_permissions(&root, fs::Permissions::from_mode(0o755));
    make_removable(&root);
});
