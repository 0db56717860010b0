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

/// A scratch tree for escape tests: `<tmp>/outer/root` is unpacked into,
/// `<tmp>/outer/sentinel` and `<tmp>/outer/secret` sit beside it and must
/// come through every layer untouched. Everything stays under the temp dir.
struct Escape {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    root: PathBuf,
}

impl Escape {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().join("outer");
        let root = outer.join("root");
        fs::create_dir_all(&root).unwrap();
        fs::write(outer.join("sentinel"), b"keep me").unwrap();
        fs::write(outer.join("secret"), b"secret").unwrap();
        let lower = tar_of(&[
            ("keep", T::Regular, "", b"1"),
            ("dir/", T::Directory, "", b""),
            ("dir/keep", T::Regular, "", b"1"),
        ]);
        unpack_layer(&lower[..], &root, "lower", None, &UnpackOptions::default()).unwrap();
        Escape {
            _tmp: tmp,
            outer,
            root,
        }
    }

    fn unpack(&self, layer: &[(&str, tar::EntryType, &str, &[u8])]) -> Result<UnpackReport> {
        let t = tar_of(layer);
        unpack_layer(&t[..], &self.root, "upper", None, &UnpackOptions::default())
    }

    fn outer_abs(&self) -> String {
        self.outer.to_string_lossy().into_owned()
    }

    /// Nothing beside the root changed, and the lower layer is intact.
    fn assert_untouched(&self, what: &str) {
        assert_eq!(
            fs::read(self.outer.join("sentinel")).ok().as_deref(),
            Some(&b"keep me"[..]),
            "{what}: the sentinel beside the root was removed or changed"
        );
        let secret = fs::metadata(self.outer.join("secret")).unwrap();
        assert_eq!(
            fs::read(self.outer.join("secret")).unwrap(),
            b"secret",
            "{what}: the file beside the root was written"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            secret.nlink(),
            1,
            "{what}: the file beside the root got a hard link"
        );
        assert!(
            self.root.join("keep").exists(),
            "{what}: root/keep was removed"
        );
        assert!(
            self.root.join("dir/keep").exists(),
            "{what}: root/dir/keep was removed"
        );
    }
}

#[test]
fn whiteouts_of_dot_dotdot_and_empty_names_are_refused() {
    for name in [
        ".wh..",
        ".wh...",
        ".wh.",
        "dir/.wh..",
        "dir/.wh...",
        "dir/.wh.",
    ] {
        let t = Escape::new();
        let r = t.unpack(&[(name, T::Regular, "", b"")]);
        t.assert_untouched(name);
        let e = r.expect_err(name).to_string();
        assert!(
            e.contains(name) && e.contains("whiteout") && e.contains("names no entry"),
            "{name}: {e}"
        );
    }
}

#[test]
fn whiteouts_and_opaque_markers_under_symlinks_stay_inside_root() {
    let t = Escape::new();
    let abs = t.outer_abs();
    t.unpack(&[
        ("up", T::Symlink, "..", b""),
        ("up/.wh.sentinel", T::Regular, "", b""),
        ("out", T::Symlink, &abs, b""),
        ("out/.wh.sentinel", T::Regular, "", b""),
        ("out/.wh..wh..opq", T::Regular, "", b""),
        ("ln", T::Symlink, &abs, b""),
    ])
    .unwrap();
    t.assert_untouched("whiteouts under symlinked parents");
    // Hiding a symlink to outside removes the link, never its target.
    t.unpack(&[(".wh.ln", T::Regular, "", b"")]).unwrap();
    assert!(fs::symlink_metadata(t.root.join("ln")).is_err());
    t.assert_untouched("whiteout of a symlink to outside");
}

#[test]
fn hard_links_never_reach_outside_root() {
    let t = Escape::new();
    let secret = t.outer.join("secret").to_string_lossy().into_owned();
    let abs = t.outer_abs();
    // A hard link to a symlink that points outside links the symlink itself.
    t.unpack(&[
        ("evil", T::Symlink, &secret, b""),
        ("hl", T::Link, "evil", b""),
    ])
    .unwrap();
    assert!(
        fs::symlink_metadata(t.root.join("hl"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Writing over the link replaces it instead of writing through it.
    t.unpack(&[
        ("hl", T::Regular, "", b"pwned"),
        ("evil", T::Regular, "", b"pwned"),
    ])
    .unwrap();
    assert_eq!(fs::read(t.root.join("hl")).unwrap(), b"pwned");
    t.assert_untouched("hard link to a symlink to outside");
    // A hard link through a symlinked parent resolves inside the root, where
    // the target does not exist.
    let e = t
        .unpack(&[
            ("d", T::Symlink, &abs, b""),
            ("hl2", T::Link, "d/secret", b""),
        ])
        .unwrap_err()
        .to_string();
    assert!(e.contains("hard link"), "{e}");
    t.assert_untouched("hard link through a symlinked parent");
}

#[test]
fn files_written_over_symlinks_to_outside_replace_the_link() {
    let t = Escape::new();
    let secret = t.outer.join("secret").to_string_lossy().into_owned();
    t.unpack(&[("f", T::Symlink, &secret, b"")]).unwrap();
    t.unpack(&[("f", T::Regular, "", b"pwned")]).unwrap();
    assert_eq!(fs::read(t.root.join("f")).unwrap(), b"pwned");
    t.assert_untouched("a file over a symlink to outside");
}
