//! `ferry build` through the real binary: an OCI layout readable by skopeo,
//! step lines like `docker build`, a cached rebuild, and exit codes (2 with
//! file:line:column for a bad Dockerfile, 1 with the exit code and output
//! tail for a failing RUN). The base is busybox-static copied in by the
//! build itself, so nothing is pulled.

use std::process::Command;

use ferry_test_support::temp_dir;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

#[test]
fn build_writes_an_oci_layout_and_reports_errors_with_positions() {
    let dir = temp_dir();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nRUN echo built > /msg\nCMD [\"cat\", \"/msg\"]\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let layout = dir.path().join("layout");
    let run = |extra: &[&str]| {
        let mut c = ferry();
        c.args(["build", "--data-dir"])
            .arg(&data)
            .args(extra)
            .arg(&ctx);
        c.output().unwrap()
    };
    let out = run(&["-t", "app:v1", "--output", layout.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("STEP 2/4: RUN [\"/bin/busybox\""),
        "{stderr}"
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:app:v1", layout.display()))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );

    let again = run(&["-q", "--output", layout.to_str().unwrap()]);
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        digest,
        "same input, same digest"
    );

    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n  RUNN echo\n",
    )
    .unwrap();
    let bad = run(&[]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("Dockerfile:3:3: unknown instruction `RUNN` (did you mean `RUN`?)"),
        "{stderr}"
    );

    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo oops; exit 4\"]\n").unwrap();
    let failed = run(&["-t", "127.0.0.1:9/never:v1"]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("exit code 4")
            && stderr.contains("oops")
            && stderr.contains("nothing was pushed"),
        "{stderr}"
    );
}
