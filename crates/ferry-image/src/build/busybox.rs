//! Test and utility images from busybox-static (`/bin/busybox`): the binary
//! plus a symlink for every applet it lists (`busybox --list-full`), a
//! minimal `/etc/passwd` and `/etc/group`, and `/tmp`. [`httpd_image`]
//! adds a web root whose files answer with a version string, which is how
//! the rest of ferry's tests tell deployments apart.

use std::path::Path;
use std::process::Command;

use super::{Entry, ImageBuilder, Layer};
use crate::error::{Error, Result};

/// Where busybox-static is installed on Debian.
pub const BUSYBOX: &str = "/bin/busybox";

/// A layer with busybox and its applet symlinks.
pub fn busybox_layer(busybox: &Path) -> Result<Layer> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| Error::io("run", busybox, e))?;
    if !out.status.success() {
        return Err(Error::Build(format!(
            "{} --list-full failed; is it busybox-static?",
            busybox.display()
        )));
    }
    let mut l = Layer::new();
    l.add_file(busybox, "/bin/busybox")?;
    for applet in String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if applet == "bin/busybox" {
            continue;
        }
        l.insert(
            applet,
            Entry::Symlink {
                target: "/bin/busybox".into(),
            },
        )?;
    }
    l.insert("/etc/passwd", Entry::Data { data: b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".to_vec(), mode: 0o644 })?;
    l.insert(
        "/etc/group",
        Entry::Data {
            data: b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
            mode: 0o644,
        },
    )?;
    l.insert("/tmp", Entry::Dir { mode: 0o1777 })?;
    l.insert("/root", Entry::Dir { mode: 0o700 })?;
    Ok(l)
}

/// A busybox image whose default command is a shell.
pub fn busybox_image() -> Result<ImageBuilder> {
    Ok(ImageBuilder::new()
        .layer(busybox_layer(Path::new(BUSYBOX))?)
        .cmd(["sh"]))
}

/// A busybox image running `httpd` in the foreground on `port`, serving
/// `/www`, where `/`, `/index.html` and `/version` answer `version` plus a
/// newline and `/healthz` answers `ok`. The version is also the label
/// `dev.ferry.version` and the env var `VERSION`.
pub fn httpd_image(version: &str, port: u16) -> Result<ImageBuilder> {
    let mut www = Layer::new();
    let body = format!("{version}\n").into_bytes();
    www.insert(
        "/www/index.html",
        Entry::Data {
            data: body.clone(),
            mode: 0o644,
        },
    )?;
    www.insert(
        "/www/version",
        Entry::Data {
            data: body,
            mode: 0o644,
        },
    )?;
    www.insert(
        "/www/healthz",
        Entry::Data {
            data: b"ok\n".to_vec(),
            mode: 0o644,
        },
    )?;
    Ok(busybox_image()?
        .layer(www)
        .entrypoint(["httpd"])
        .cmd(vec![
            "-f".to_string(),
            "-p".into(),
            port.to_string(),
            "-h".into(),
            "/www".into(),
        ])
        .expose(&port.to_string())
        .env("VERSION", version)
        .label("dev.ferry.version", version))
}
