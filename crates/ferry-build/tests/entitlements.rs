//! `RUN --network=host` needs the `network.host` entitlement (issue 17,
//! item 10): without `--allow network.host` the build fails before any step
//! runs, naming the Dockerfile line and the flag; with it the step sees the
//! host's network interfaces. Real runc on a busybox base.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ferry_build::{BuildOptions, Built, Entitlement, Error, Event, build};
use ferry_image::Store;
use ferry_image::build::busybox;

const DOCKERFILE: &str = "FROM ferry.test/busybox:1\nRUN echo before > /before\nRUN --network=host sh -c 'grep -c : /proc/net/dev > /ifaces'\n";

fn opts(tmp: &std::path::Path) -> BuildOptions {
    let context = tmp.join("ctx");
    let cache = tmp.join("cache");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    let store = Store::open(cache.join("store")).unwrap();
    busybox::busybox_image()
        .unwrap()
        .build(&store, Some("ferry.test/busybox:1"))
        .unwrap();
    BuildOptions {
        context,
        dockerfile: None,
        build_args: BTreeMap::new(),
        target: None,
        cache_dir: cache,
        no_cache: false,
        allow: Default::default(),
    }
}

fn run(opts: &BuildOptions) -> (Result<Built, Error>, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let r = build(opts, &|e| events.lock().unwrap().push(e));
    (r, events.into_inner().unwrap())
}

/// The content of `path` in the image's last layer that holds it.
fn file(built: &Built, path: &str) -> Option<String> {
    let m: ferry_image::oci::ImageManifest = serde_json::from_slice(&built.manifest_bytes).unwrap();
    let mut out = None;
    for l in m.layers() {
        let blob = built.store.read_blob(l.digest().as_ref()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == path {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                out = Some(s);
            }
        }
    }
    out
}

#[test]
fn run_network_host_needs_the_network_host_entitlement() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = opts(tmp.path());
    let (r, events) = run(&opts);
    let e = match r {
        Ok(built) => panic!(
            "RUN --network=host ran without --allow network.host (it saw {:?} interfaces)",
            file(&built, "ifaces")
        ),
        Err(e) => e,
    };
    assert!(e.is_bad_input(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("Dockerfile:3:"), "{msg}");
    assert!(msg.contains("--allow network.host"), "{msg}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Step { .. })),
        "steps ran before the refusal: {events:?}"
    );

    // Allowed, the step shares the host's network namespace.
    opts.allow.insert(Entitlement::NetworkHost);
    let built = run(&opts).0.expect("the build with --allow network.host");
    let host = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .filter(|l| l.contains(':'))
        .count();
    assert_eq!(file(&built, "ifaces"), Some(format!("{host}\n")));
}
