//! Shared set-up for the real-build tests: a context directory and a cache
//! holding a busybox base image, and reading a built image's files back.
#![allow(dead_code)]

pub use std::collections::BTreeMap;
use std::io::Read;
pub use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use ferry_build::{BuildOptions, Built, Error, Event, build};
use ferry_image::Store;
use ferry_image::build::busybox;

pub const BASE: &str = "ferry.test/busybox:1";

/// A context directory plus a cache directory holding the busybox base.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub context: PathBuf,
    pub cache: PathBuf,
}

impl Fixture {
    pub fn new(dockerfile: &str, files: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let context = tmp.path().join("ctx");
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&context).unwrap();
        let store = Store::open(cache.join("store")).unwrap();
        busybox::busybox_image()
            .unwrap()
            .build(&store, Some(BASE))
            .unwrap();
        std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
        for (p, c) in files {
            write(&context.join(p), c);
        }
        Fixture {
            _tmp: tmp,
            context,
            cache,
        }
    }

    pub fn opts(&self) -> BuildOptions {
        BuildOptions {
            context: self.context.clone(),
            dockerfile: None,
            build_args: BTreeMap::new(),
            target: None,
            cache_dir: self.cache.clone(),
            no_cache: false,
            allow: Default::default(),
        }
    }

    pub fn build(&self) -> Built {
        self.build_with(&self.opts()).0.unwrap()
    }

    pub fn build_with(&self, opts: &BuildOptions) -> (Result<Built, Error>, Vec<Event>) {
        let events = Mutex::new(Vec::new());
        let r = build(opts, &|e| events.lock().unwrap().push(e));
        (r, events.into_inner().unwrap())
    }
}

pub fn write(p: &Path, c: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, c).unwrap();
}

/// Every file of every layer: path → content (last layer wins; whiteouts
/// recorded as "<whiteout>").
pub fn files(built: &Built) -> BTreeMap<String, String> {
    let m: ferry_image::oci::ImageManifest = serde_json::from_slice(&built.manifest_bytes).unwrap();
    let mut out = BTreeMap::new();
    for l in m.layers() {
        let blob = built.store.read_blob(l.digest().as_ref()).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut s = String::new();
            if e.header().entry_type().is_file() {
                e.read_to_string(&mut s).ok();
            }
            if path.rsplit('/').next().unwrap_or("").starts_with(".wh.") {
                s = "<whiteout>".into();
            }
            out.insert(path, s);
        }
    }
    out
}
