//! The images ferry builds for myhero are self-contained: built with
//! ferry-image exactly as `build-images.sh` does (a binary plus the shared
//! libraries and loader it links; mosca from Debian's mosquitto with its
//! config and /etc), unpacked into a root filesystem, and run there with
//! chroot (as root, on loopback) they answer. Running them in ferry's
//! runtime behind its gateway is left to the runtime's own tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_image::Store;
use ferry_image::build::{Compression, ImageBuilder};
use ferry_image::unpack::UnpackOptions;
use myhero_tests::{Proc, curl, free_port, mosquitto_bin, poll, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_myhero-stack");

fn mosca_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mosca")
}

fn unpack(store: &Store, name: &str, root: &Path) {
    let image = store.image(name).expect("image in store");
    ferry_image::rootfs::unpack_into(store, &image, root, &UnpackOptions::default())
        .expect("unpack image");
}

fn chroot(root: &Path, name: &str, args: &[&str], env: &[(&str, String)], logs: &Path) -> Proc {
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(root)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    Proc::spawn(name, cmd, logs)
}

#[test]
fn the_data_binary_image_runs_on_its_own_libraries() {
    let dir = temp_dir();
    let store = Store::open(dir.path().join("store")).unwrap();
    // The debug binary is mostly debug info; strip a copy, as a release
    // image would be.
    let bin = dir.path().join("myhero-stack");
    let st = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(BIN)
        .status()
        .expect("strip (binutils, installed with the Rust toolchain's linker)");
    assert!(st.success());
    ImageBuilder::new()
        .binary(&bin, "/app/myhero-stack")
        .unwrap()
        .env("myhero_data_dir", "/app/data/")
        .expose("5000")
        // Uncompressed: the debug binary is large and compression unoptimised.
        .compression(Compression::None)
        .build(&store, Some("myhero/data:test"))
        .unwrap();
    let root = dir.path().join("rootfs");
    unpack(&store, "myhero/data:test", &root);
    assert!(
        !root.join("bin/sh").exists(),
        "nothing but the binary and its libraries"
    );
    let port = free_port();
    let p = chroot(
        &root,
        "data-image",
        &["/app/myhero-stack", "data"],
        &[
            ("myhero_data_key", "SecureData".into()),
            ("PORT", port.to_string()),
        ],
        dir.path(),
    );
    let url = format!("http://127.0.0.1:{port}/hero_list");
    poll(
        "the data image to answer",
        std::time::Duration::from_secs(20),
        || {
            assert!(p.group_alive(), "data image exited:\n{}", p.stdout());
            ferry_test_support::http_ok(&url).then_some(())
        },
    );
    let (s, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "key: SecureData",
        &format!("http://127.0.0.1:{port}/vote/Deadpool"),
    ]);
    assert_eq!((s, body.as_str()), (200, r#"{"result":"1"}"#));
    assert!(
        root.join("app/data/votes.log").exists(),
        "votes land in the image's default myhero_data_dir"
    );
}

#[test]
fn the_mosca_image_is_a_working_mosquitto() {
    let mosquitto = mosquitto_bin();
    let dir = temp_dir();
    let store = Store::open(dir.path().join("store")).unwrap();
    let m = mosca_dir();
    ImageBuilder::new()
        .binary(&mosquitto, "/usr/sbin/mosquitto")
        .unwrap()
        .dir(&m.join("config"), "/mosquitto/config")
        .unwrap()
        .dir(&m.join("data"), "/mosquitto/data")
        .unwrap()
        .dir(&m.join("etc"), "/etc")
        .unwrap()
        .entrypoint([
            "/usr/sbin/mosquitto",
            "-c",
            "/mosquitto/config/mosquitto.conf",
        ])
        .expose("1883")
        .compression(Compression::None)
        .build(&store, Some("myhero/mosca:test"))
        .unwrap();
    let root = dir.path().join("rootfs");
    unpack(&store, "myhero/mosca:test", &root);
    // The image's own config, moved to a free loopback port for the test.
    let port = free_port();
    let conf = std::fs::read_to_string(root.join("mosquitto/config/mosquitto.conf")).unwrap();
    assert!(conf.contains("listener 1883 0.0.0.0"));
    std::fs::write(
        root.join("mosquitto/config/test.conf"),
        conf.replace(
            "listener 1883 0.0.0.0",
            &format!("listener {port} 127.0.0.1"),
        ),
    )
    .unwrap();
    let p = chroot(
        &root,
        "mosca-image",
        &["/usr/sbin/mosquitto", "-c", "/mosquitto/config/test.conf"],
        &[],
        dir.path(),
    );
    poll(
        "the mosca image to listen",
        std::time::Duration::from_secs(20),
        || {
            assert!(
                p.group_alive(),
                "mosca image exited:\n{}\n{}",
                p.stdout(),
                p.stderr()
            );
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        },
    );
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-r",
            "-t",
            "MyHero-Votes/image-test",
            "-m",
            "Batman",
        ])
        .output()
        .expect(
            "mosquitto_pub (Debian package mosquitto-clients; run scripts/setup.sh --test-peers)",
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "MyHero-Votes/#",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Batman",
        "the retained vote comes back"
    );
}
