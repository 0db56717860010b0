//! A full disk under the runtime's state store (issue 18): the data
//! directory lives on a tmpfs of a few MiB ([`SmallFs`], unmounted on
//! drop). An apply that cannot be written fails with an error that says the
//! disk is full, names the store and says nothing was changed; the objects
//! read back are the previous ones, a restart (disk still full) loads them,
//! and once space is free the same apply succeeds. Needs root (mount).

use ferry_runtime::kinds::Kind;
use ferry_runtime::{Runtime, RuntimeConfig};
use ferry_test_support::SmallFs;

fn config_map(name: &str, value: &str) -> (String, String) {
    let doc = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata: {{v: \"{value}\"}}\n"
    );
    (format!("{name}.yaml"), doc)
}

fn value(rt: &Runtime, name: &str) -> String {
    let o = rt.get(Kind::ConfigMap, "default", name).expect("stored");
    o["data"]["v"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_on_a_full_disk_fails_and_the_store_keeps_its_last_good_state() {
    let fs = SmallFs::mount(8);
    let cfg = RuntimeConfig::new(fs.path().join("runtime"));
    let rt = Runtime::start(cfg.clone()).await.unwrap();
    rt.apply(&[config_map("app", "one")]).unwrap();
    let ballast = fs.fill("ballast", 0);

    let big = "x".repeat(512 << 10);
    let err = rt
        .apply(&[config_map("app", &big), config_map("other", "new")])
        .expect_err("nothing can be written on a full disk")
        .to_string();
    for needle in [
        "no space left on device",
        "state.db",
        "nothing of this apply",
    ] {
        assert!(err.contains(needle), "`{needle}` in {err}");
    }
    assert_eq!(value(&rt, "app"), "one", "the previous object is served");
    assert!(rt.get(Kind::ConfigMap, "default", "other").is_err());
    rt.shutdown().await;
    drop(rt);

    let rt = Runtime::start(cfg.clone())
        .await
        .expect("restart on a full disk");
    assert_eq!(
        value(&rt, "app"),
        "one",
        "a restart loads the last good state"
    );
    assert!(rt.get(Kind::ConfigMap, "default", "other").is_err());

    std::fs::remove_file(ballast).unwrap();
    rt.apply(&[config_map("app", &big), config_map("other", "new")])
        .expect("applies once space is free");
    assert_eq!(value(&rt, "app"), big);
    rt.shutdown().await;
}
