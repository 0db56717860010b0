//! A build whose cache directory fills up (issue 18): the cache lives on a
//! tmpfs of a few MiB ([`SmallFs`], unmounted on drop) and a COPY brings in
//! more than fits. The build fails (no panic, no hang) with a message that
//! says the disk is full and names the path; its work directory is gone
//! and a build that fits succeeds on the same cache afterwards. Needs root
//! (mount).

use std::collections::BTreeMap;

use ferry_build::{BuildOptions, build};
use ferry_image::Store;
use ferry_image::build::busybox;
use ferry_test_support::SmallFs;

const BASE: &str = "ferry.test/busybox:1";

/// Deterministic bytes gzip cannot shrink.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_build_that_fills_its_cache_disk_fails_naming_enospc_and_the_path() {
    let fs = SmallFs::mount(12);
    let tmp = ferry_test_support::temp_dir();
    let context = tmp.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    let cache = fs.path().join("cache");
    let store = Store::open(cache.join("store")).unwrap();
    busybox::busybox_image()
        .unwrap()
        .build(&store, Some(BASE))
        .unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {BASE}\nCOPY big /big\n"),
    )
    .unwrap();
    let free = fs.free() as usize;
    std::fs::write(context.join("big"), noise(free + (1 << 20), 3)).unwrap();
    let opts = BuildOptions {
        context: context.clone(),
        dockerfile: None,
        build_args: BTreeMap::new(),
        target: None,
        cache_dir: cache.clone(),
        no_cache: false,
        allow: Default::default(),
    };

    let err = build(&opts, &|_| {}).expect_err("the disk is too small for the layer");
    let message = err.to_string();
    assert!(
        message.to_lowercase().contains("no space left on device"),
        "names ENOSPC: {message}"
    );
    assert!(message.contains("disk is full"), "says so: {message}");
    assert!(
        message.contains(&cache.display().to_string()),
        "names the path: {message}"
    );
    assert_eq!(
        fs.files("cache/store/ingest"),
        Vec::<String>::new(),
        "no partial layer is left in the store"
    );
    assert_eq!(
        fs.files("cache/work"),
        Vec::<String>::new(),
        "the work directory is removed"
    );

    std::fs::write(context.join("big"), noise(1 << 20, 4)).unwrap();
    build(&opts, &|_| {}).expect("a build that fits succeeds after the failure");
}
