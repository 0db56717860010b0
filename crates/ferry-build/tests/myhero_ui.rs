//! The myhero UI image (static files served by busybox httpd) built from a
//! Dockerfile, written as an OCI layout, then run with runc and fetched
//! over loopback.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ferry_build::exec::{RunSpec, runtime_spec};
use ferry_build::{BuildOptions, build};
use ferry_image::Store;
use ferry_image::build::busybox;
use ferry_image::unpack::UnpackOptions;
use ferry_test_support::{Proc, free_port, poll};

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
FROM ferry.test/busybox:1
ARG PORT=80
ENV PORT=${PORT} \
    myhero_app_server=http://127.0.0.1:15000 \
    myhero_app_key=SecureUI
COPY static/ /www/
RUN sed -i "s|APP_SERVER|$myhero_app_server|" /www/index.html \
 && echo ok > /www/healthz
EXPOSE ${PORT}
HEALTHCHECK --interval=10s CMD wget -q -O- http://127.0.0.1:$PORT/healthz || exit 1
STOPSIGNAL SIGTERM
CMD httpd -f -p 127.0.0.1:$PORT -h /www
"#;

/// Removes the container on drop, whatever happened.
struct Container(String, std::path::PathBuf);

impl Drop for Container {
    fn drop(&mut self) {
        let root = self.1.join("runc-state");
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["kill", &self.0, "KILL"])
            .output();
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["delete", "-f", &self.0])
            .output();
    }
}

#[test]
fn myhero_ui_image_builds_and_serves_its_page() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(ctx.join("static")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(
        ctx.join("static/index.html"),
        "<html><body><h1>Make ONE voice heard!!!</h1><script>const app='APP_SERVER';</script></body></html>\n",
    )
    .unwrap();
    let store = Store::open(cache.join("store")).unwrap();
    busybox::busybox_image()
        .unwrap()
        .build(&store, Some("ferry.test/busybox:1"))
        .unwrap();
    let port = free_port();
    let opts = BuildOptions {
        context: ctx.clone(),
        dockerfile: None,
        build_args: BTreeMap::from([("PORT".to_string(), port.to_string())]),
        target: None,
        cache_dir: cache,
        no_cache: false,
        allow: Default::default(),
    };
    let built = build(&opts, &|_| {}).unwrap();
    let layout = tmp.path().join("layout");
    ferry_build::output::write_layout(&built, &layout, &["myhero-ui:v1".to_string()]).unwrap();

    // The layout is a valid OCI layout another tool can read.
    let out = Store::open(&layout).unwrap();
    let image = out.image("myhero-ui:v1").unwrap();
    assert_eq!(image.digest(), built.digest());
    let cfg = &built.config["config"];
    assert!(cfg["ExposedPorts"].get(format!("{port}/tcp")).is_some());
    assert_eq!(cfg["Healthcheck"]["Test"][0], "CMD-SHELL");
    assert_eq!(cfg["StopSignal"], "SIGTERM");

    // Run it with runc, as the runtime would, on the loopback interface.
    let rootfs = tmp.path().join("bundle/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    ferry_image::rootfs::unpack_into(&out, &image, &rootfs, &UnpackOptions::default()).unwrap();
    let c = image.config.config().clone().unwrap();
    let spec = RunSpec {
        rootfs: rootfs.clone(),
        args: c.cmd().clone().unwrap(),
        env: c.env().clone().unwrap(),
        cwd: "/".into(),
        uid: 0,
        gid: 0,
        additional_gids: vec![],
        host_network: true,
        binds: vec![],
    };
    let bundle = tmp.path().join("bundle");
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&runtime_spec(&spec).unwrap()).unwrap(),
    )
    .unwrap();
    let id = format!("ferry-build-test-{}", std::process::id());
    let _guard = Container(id.clone(), bundle.clone());
    let mut cmd = Command::new("runc");
    cmd.arg("--root")
        .arg(bundle.join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id);
    let _proc = Proc::spawn("myhero-ui", cmd, tmp.path());
    let url = format!("http://127.0.0.1:{port}/");
    let body = poll("myhero-ui to serve", Duration::from_secs(20), || {
        reqwest::blocking::get(&url)
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.text().ok())
    });
    assert!(body.contains("Make ONE voice heard!!!"), "{body}");
    assert!(
        body.contains("http://127.0.0.1:15000"),
        "the RUN step rewrote the page: {body}"
    );
}
