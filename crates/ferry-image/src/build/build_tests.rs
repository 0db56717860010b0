use super::*;
use crate::rootfs::RootfsCache;
use crate::unpack::UnpackOptions;
use std::collections::HashMap;

#[test]
fn busybox_httpd_image_is_deterministic_and_unpacks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let a = busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, Some("t/httpd:v1"))
        .unwrap();
    let b = busybox::httpd_image("v1", 8080)
        .unwrap()
        .build(&store, None)
        .unwrap();
    assert_eq!(a.digest(), b.digest(), "same input, same digest");
    let c = busybox::httpd_image("v2", 8080)
        .unwrap()
        .build(&store, None)
        .unwrap();
    assert_ne!(a.digest(), c.digest());

    let image = store.image("t/httpd:v1").unwrap();
    let cfg = image.config.config().clone().unwrap();
    assert_eq!(cfg.entrypoint().clone().unwrap(), vec!["httpd"]);
    assert_eq!(cfg.exposed_ports().clone().unwrap(), vec!["8080/tcp"]);
    assert_eq!(cfg.labels().clone().unwrap()["dev.ferry.version"], "v1");

    let cache = RootfsCache::open(dir.path().join("rootfs")).unwrap();
    let root = cache
        .get_or_unpack(&store, &image, &UnpackOptions::default())
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("www/version")).unwrap(),
        "v1\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    let again = cache
        .get_or_unpack(&store, &image, &UnpackOptions::default())
        .unwrap();
    assert_eq!(root, again);
    // The unpacked busybox really runs.
    let out = std::process::Command::new(root.join("bin/busybox"))
        .arg("echo")
        .arg("hi")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hi\n");
}

#[test]
fn binary_image_carries_its_libraries_and_runs_chrooted_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let built = ImageBuilder::new()
        .binary(Path::new("/bin/ls"), "/app/ls")
        .unwrap()
        .env("A", "1")
        .working_dir("/app")
        .user("65534")
        .build(&store, Some("t/ls:1"))
        .unwrap();
    let image = store.image("t/ls:1").unwrap();
    assert_eq!(image.digest(), built.digest());
    let root = dir.path().join("root");
    crate::rootfs::unpack_into(&store, &image, &root, &UnpackOptions::default()).unwrap();
    assert!(root.join("app/ls").is_file());
    let deps = elf::dependencies(Path::new("/bin/ls")).unwrap();
    for p in deps.files.keys() {
        assert!(
            root.join(p.trim_start_matches('/')).is_file(),
            "{p} missing from the image"
        );
    }
    let cfg = image.config.config().clone().unwrap();
    assert_eq!(cfg.entrypoint().clone().unwrap(), vec!["/app/ls"]);
    assert!(cfg.env().clone().unwrap().contains(&"A=1".to_string()));
    // It runs with nothing but the image as its root, as the image's user:
    // the loader and every library it needs came along. (Needs root, for
    // chroot(2).)
    let out = std::process::Command::new("chroot")
        .arg("--userspec=65534:65534")
        .arg(&root)
        .args(["/app/ls", "/app"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("chroot(8) from coreutils");
    assert!(
        out.status.success(),
        "/app/ls did not run chrooted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ls\n");
}

#[test]
fn empty_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let e = ImageBuilder::new()
        .build(&store, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one layer"), "{e}");
}

#[test]
fn canonical_json_sorts_keys() {
    let mut m = HashMap::new();
    for k in ["z", "a", "m"] {
        m.insert(k.to_string(), 1);
    }
    assert_eq!(canonical_json(&m, "t").unwrap(), br#"{"a":1,"m":1,"z":1}"#);
}
