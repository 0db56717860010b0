//! The tutorial's myhero manifests (`examples/myhero/k8s`, only the
//! registry host changed) deployed on the embedded runtime and answering
//! through the region's gateway: images built by `build-images.sh` with
//! ferry itself and pushed to the region's registry, every manifest applied
//! with `ferry apply`, then the tutorial's calls through the Ingress hosts —
//! options, votes in queue mode (app → mosca → ernst → data) counted in the
//! results, and the UI's three versions behind one Service. Needs root,
//! runc and Debian's mosquitto.

mod common;

use std::time::Duration;

use common::{cli, up, via_gateway};
use ferry_test_support::{free_addr, poll, temp_dir};
use serde_json::Value;

fn curl(gateway: &str, host: &str, method: &str, path: &str) -> Option<String> {
    via_gateway(gateway, host, method, path, Some("SecureApp"))
}

#[test]
fn tutorial_manifests_run_on_the_runtime_behind_the_gateway() {
    let dir = temp_dir();
    let (api_addr, registry, gateway) = (free_addr(), free_addr(), free_addr());
    let topo = dir.path().join("topology.yaml");
    std::fs::write(
        &topo,
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: local}}\n\
             spec: {{dataDir: data, listeners: {{api: {api_addr}, registry: {registry}, gateway: {gateway}}}}}\n"
        ),
    )
    .unwrap();
    let (_up, api) = up(&topo, dir.path());

    common::myhero::build_and_push_images(dir.path(), registry);

    // The tutorial's manifests with only the registry host changed.
    let mut files = Vec::new();
    for name in common::myhero::MANIFESTS {
        let dest = dir.path().join(format!("myhero-{name}.yml"));
        std::fs::write(&dest, common::myhero::manifest(name, registry)).unwrap();
        files.push(dest);
    }
    let mut args = vec!["apply".to_string()];
    for f in &files {
        args.push("-f".into());
        args.push(f.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let applied = cli(&api, &args);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    let gw = gateway.to_string();
    let app = "myhero-app.myhero.local";
    let options = poll(
        "myhero-app through the gateway",
        Duration::from_secs(240),
        || curl(&gw, app, "GET", "/options").filter(|b| b.contains("Deadpool")),
    );
    let options: Value = serde_json::from_str(&options).unwrap();
    assert!(
        options["options"].as_array().unwrap().len() >= 10,
        "{options}"
    );

    // Queue mode: app publishes to mosca, ernst records each vote in data.
    // Until the broker answers, the app says "vote submission failed" and
    // nothing is counted; three submitted votes must be counted exactly.
    let mut submitted = 0;
    poll("three votes submitted", Duration::from_secs(120), || {
        let r = curl(&gw, app, "POST", "/vote/Deadpool").unwrap_or_default();
        if r.contains("vote submitted") {
            submitted += 1;
        }
        (submitted == 3).then_some(())
    });
    poll(
        "three votes in the results",
        Duration::from_secs(60),
        || {
            let r: Value = serde_json::from_str(&curl(&gw, app, "GET", "/v2/results")?).ok()?;
            r.as_array()?
                .iter()
                .any(|row| row[0] == "Deadpool" && row[1].as_u64() >= Some(3))
                .then_some(())
        },
    );

    // The three UI versions answer behind the one myhero-ui Service.
    let mut seen = std::collections::BTreeSet::new();
    poll("all three UI versions", Duration::from_secs(120), || {
        if let Some(page) = curl(&gw, "myhero-ui.myhero.local", "GET", "/") {
            for (v, heading) in [
                ("v1", "Make ONE voice heard!!!"),
                ("v2", "Make TWO voices heard!!!"),
                ("v3", "Make THREE voices heard!!!"),
            ] {
                if page.contains(heading) {
                    seen.insert(v);
                }
            }
        }
        (seen.len() == 3).then_some(())
    });
}
