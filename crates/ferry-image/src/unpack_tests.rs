use super::*;

/// A plain tar from `(path, kind)` entries, written raw so malicious names
/// survive (tar::Builder would refuse them).
fn tar_of(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        {
            let name = &mut h.as_gnu_mut().unwrap().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
        }
        h.set_entry_type(*kind);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

use tar::EntryType as T;

#[test]
fn refuses_dotdot_and_absolute_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let bad = tar_of(&[("../evil", T::Regular, "", b"x")]);
    let e = unpack_layer(&bad[..], &root, "l", None, &UnpackOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("..") && e.contains("../evil"), "{e}");
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn symlink_escapes_stay_inside_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let abs = outside.to_string_lossy().into_owned();
    let layer = tar_of(&[
        ("link", T::Symlink, &abs, b""),
        ("link/pwned", T::Regular, "", b"x"),
        ("up", T::Symlink, "../../../..", b""),
        ("up/pwned2", T::Regular, "", b"y"),
    ]);
    unpack_layer(&layer[..], &root, "l", None, &UnpackOptions::default()).unwrap();
    assert!(!outside.join("pwned").exists());
    assert!(!dir.path().join("pwned2").exists());
    // They landed inside the root instead.
    assert!(
        root.join(abs.trim_start_matches('/'))
            .join("pwned")
            .exists()
    );
    assert!(root.join("pwned2").exists());
}

#[test]
fn whiteouts_and_opaque_dirs_apply_to_lower_layers_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let lower = tar_of(&[
        ("a/", T::Directory, "", b""),
        ("a/keep", T::Regular, "", b"1"),
        ("a/gone", T::Regular, "", b"1"),
        ("o/", T::Directory, "", b""),
        ("o/old", T::Regular, "", b"1"),
    ]);
    unpack_layer(&lower[..], &root, "lower", None, &UnpackOptions::default()).unwrap();
    let upper = tar_of(&[
        ("a/.wh.gone", T::Regular, "", b""),
        ("o/new", T::Regular, "", b"2"),
        ("o/.wh..wh..opq", T::Regular, "", b""),
    ]);
    let r = unpack_layer(&upper[..], &root, "upper", None, &UnpackOptions::default()).unwrap();
    assert_eq!(r.whiteouts, 2);
    assert!(root.join("a/keep").exists());
    assert!(!root.join("a/gone").exists());
    assert!(!root.join("o/old").exists());
    assert_eq!(fs::read(root.join("o/new")).unwrap(), b"2");
}

#[test]
fn devices_skipped_unless_allowed_and_hardlinks_resolved_inside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let layer = tar_of(&[
        ("dev/", T::Directory, "", b""),
        ("dev/sda", T::Block, "", b""),
        ("f", T::Regular, "", b"data"),
        ("hl", T::Link, "f", b""),
    ]);
    let r = unpack_layer(&layer[..], &root, "l", None, &UnpackOptions::default()).unwrap();
    assert_eq!(r.skipped_devices, 1);
    assert!(!root.join("dev/sda").exists());
    assert_eq!(fs::read(root.join("hl")).unwrap(), b"data");
    let escape = tar_of(&[("x", T::Link, "../../etc/passwd", b"")]);
    assert!(unpack_layer(&escape[..], &root, "l", None, &UnpackOptions::default()).is_err());
}

#[test]
fn gzip_zstd_and_plain_with_diff_id_check() {
    use std::io::Write;
    let tar = tar_of(&[("hello", T::Regular, "", b"world")]);
    let diff_id = crate::digest::sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    for (name, blob) in [("plain", tar.clone()), ("gzip", gz), ("zstd", zst)] {
        let dir = tempfile::tempdir().unwrap();
        unpack_layer(
            &blob[..],
            dir.path(),
            name,
            Some(&diff_id),
            &UnpackOptions::default(),
        )
        .unwrap();
        assert_eq!(
            fs::read(dir.path().join("hello")).unwrap(),
            b"world",
            "{name}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = crate::digest::sha256(b"other");
    let e = unpack_layer(
        &tar[..],
        dir.path(),
        "l",
        Some(&wrong),
        &UnpackOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
}

proptest::proptest! {
    #[test]
    fn secure_join_never_leaves_root(parts in proptest::collection::vec("(\\.\\.|\\.|a|b|/)", 0..12)) {
        let root = Path::new("/nonexistent-root");
        let rel: PathBuf = parts.iter().collect();
        let joined = secure_join(root, &rel).unwrap();
        proptest::prop_assert!(joined.starts_with(root));
    }
}
