//! The manifests under `examples/myhero/k8s/` parse, use ferry's image
//! names, give each container only the environment variables its service
//! reads (and all it requires), expose the ports the services listen on, and
//! the Istio routes only name subsets the DestinationRule defines. Deploying
//! them on ferry's runtime and gateway is left to those components' tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn k8s() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s")
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn all_docs(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            docs(f)
                .into_iter()
                .map(move |d| (f.file_name().unwrap().to_string_lossy().into_owned(), d))
        })
        .collect()
}

/// (allowed env names, required env names, port) per image repository.
fn service_env(
    repo: &str,
) -> (
    &'static [&'static str],
    &'static [&'static str],
    Option<u64>,
) {
    match repo {
        "data" => (
            &["myhero_data_key", "myhero_data_dir"],
            &["myhero_data_key"],
            Some(5000),
        ),
        "app" => (
            &[
                "myhero_app_key",
                "myhero_data_key",
                "myhero_data_srv",
                "myhero_data_server",
                "myhero_app_mode",
                "myhero_mqtt_host",
                "myhero_mqtt_port",
            ],
            &["myhero_app_key", "myhero_data_key"],
            Some(5000),
        ),
        "ernst" => (
            &[
                "myhero_mqtt_host",
                "myhero_mqtt_port",
                "myhero_data_srv",
                "myhero_data_server",
                "myhero_data_key",
            ],
            &["myhero_mqtt_host", "myhero_data_key"],
            None,
        ),
        "ui" => (
            &[
                "myhero_app_server",
                "myhero_app_key",
                "myhero_ui_version",
                "myhero_spark_server",
            ],
            &["myhero_app_server", "myhero_app_key"],
            Some(80),
        ),
        "mosca" => (&[], &[], Some(1883)),
        other => panic!("unknown myhero image {other}"),
    }
}

#[test]
fn deployments_use_ferry_images_and_the_tutorials_env() {
    let mut seen = BTreeSet::new();
    let mut ui_versions = BTreeMap::new();
    for (file, doc) in all_docs(&k8s()) {
        if doc["kind"] != "Deployment" {
            continue;
        }
        let tmpl = &doc["spec"]["template"];
        assert_eq!(
            doc["spec"]["selector"]["matchLabels"], tmpl["metadata"]["labels"],
            "{file}: selector matches the pod labels"
        );
        for c in tmpl["spec"]["containers"].as_array().unwrap() {
            let image = c["image"].as_str().unwrap();
            let rest = image
                .strip_prefix("127.0.0.1:5000/myhero/")
                .unwrap_or_else(|| panic!("{file}: image {image} is not ferry's"));
            let (repo, tag) = rest.split_once(':').unwrap();
            seen.insert(repo.to_string());
            let (allowed, required, port) = service_env(repo);
            let env: BTreeMap<&str, &str> = c["env"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|v| {
                            (
                                v["name"].as_str().unwrap(),
                                v["value"].as_str().unwrap_or(""),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            for name in env.keys() {
                assert!(
                    allowed.contains(name),
                    "{file}: {repo} does not read {name}"
                );
            }
            for name in required {
                assert!(env.contains_key(name), "{file}: {repo} needs {name}");
            }
            if let Some(port) = port {
                assert_eq!(
                    c["ports"][0]["containerPort"], port,
                    "{file}: {repo} listens on {port}"
                );
            }
            if repo == "ui" {
                assert_eq!(
                    env.get("myhero_ui_version").copied(),
                    Some(tag),
                    "{file}: the ui tag and its version agree"
                );
                assert_eq!(
                    tmpl["metadata"]["labels"]["version"], tag,
                    "{file}: the version label Istio routes on"
                );
                ui_versions.insert(tag.to_string(), file.clone());
            }
        }
    }
    assert_eq!(
        seen,
        ["app", "data", "ernst", "mosca", "ui"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(ui_versions.keys().collect::<Vec<_>>(), ["v1", "v2", "v3"]);
}

#[test]
fn services_and_ingress_point_at_deployed_pods() {
    let all = all_docs(&k8s());
    let pods: Vec<&Value> = all
        .iter()
        .filter(|(_, d)| d["kind"] == "Deployment")
        .map(|(_, d)| &d["spec"]["template"]["metadata"]["labels"])
        .collect();
    let mut services = BTreeSet::new();
    for (file, d) in all.iter().filter(|(_, d)| d["kind"] == "Service") {
        let sel = d["spec"]["selector"].as_object().unwrap();
        assert!(
            pods.iter().any(|l| sel.iter().all(|(k, v)| &l[k] == v)),
            "{file}: service {} selects no pod",
            d["metadata"]["name"]
        );
        services.insert(d["metadata"]["name"].as_str().unwrap().to_string());
    }
    let ingress = all
        .iter()
        .find(|(_, d)| d["kind"] == "Ingress")
        .expect("an Ingress");
    for rule in ingress.1["spec"]["rules"].as_array().unwrap() {
        let backend = rule["http"]["paths"][0]["backend"]["service"]["name"]
            .as_str()
            .unwrap();
        assert!(
            services.contains(backend),
            "ingress routes to missing service {backend}"
        );
    }
}

#[test]
fn istio_routes_name_defined_subsets_for_the_five_use_cases() {
    let all = all_docs(&k8s().join("istio"));
    let rule = all
        .iter()
        .find(|(_, d)| d["kind"] == "DestinationRule")
        .expect("DestinationRule");
    let subsets: BTreeSet<&str> = rule.1["spec"]["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subsets, ["v1", "v2", "v3"].into());
    let mut features = BTreeSet::new();
    for (file, vs) in all.iter().filter(|(_, d)| d["kind"] == "VirtualService") {
        for http in vs["spec"]["http"].as_array().unwrap() {
            let mut dests: Vec<&Value> = http["route"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| &r["destination"])
                .collect();
            if !http["mirror"].is_null() {
                dests.push(&http["mirror"]);
                features.insert("mirror");
            }
            for d in dests {
                if let Some(s) = d["subset"].as_str() {
                    assert!(
                        subsets.contains(s) && d["host"] == "myhero-ui",
                        "{file}: unknown subset {s}"
                    );
                }
            }
            if http["fault"]["delay"]["fixedDelay"] == "5s" {
                features.insert("delay");
            }
            if http["fault"]["abort"]["httpStatus"] == 500 {
                features.insert("abort");
            }
            let weights: Vec<u64> = http["route"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["weight"].as_u64())
                .collect();
            if weights == [50, 50] {
                features.insert("split");
            }
            if http["route"].as_array().unwrap().len() == 1
                && http["route"][0]["destination"]["subset"] == "v1"
                && http["fault"].is_null()
                && http["mirror"].is_null()
            {
                features.insert("all-to-v1");
            }
        }
    }
    assert_eq!(
        features,
        ["abort", "all-to-v1", "delay", "mirror", "split"].into()
    );
}
