//! Tests of the apps list's filters, pagination and counts.

use super::*;
use crate::testdata::{app, many};

fn filter(name: &str, env: &str, health: &str, page: usize) -> Filter {
    Filter {
        name: name.into(),
        env: env.into(),
        health: health.into(),
        page: page.to_string(),
    }
}

#[test]
fn rows_are_one_per_app_and_environment_paginated() {
    let apps = many(120);
    let r = rows(&apps, &Filter::default());
    assert_eq!(r.matched, 240);
    assert_eq!(r.rows.len(), PAGE_SIZE);
    assert_eq!(r.pages, 5);
    assert_eq!(r.rows[0].app.name, "app-00000");
    assert_eq!(r.rows[1].env.unwrap().environment, "prod");
    let last = rows(&apps, &filter("", "", "", 5));
    assert_eq!(last.rows.len(), 40);
    assert_eq!(last.rows[39].app.name, "app-00119");
    let beyond = rows(&apps, &filter("", "", "", 9));
    assert!(beyond.rows.is_empty());
    assert_eq!(beyond.matched, 240);
}

#[test]
fn filters_combine_name_environment_and_health() {
    let apps = many(120);
    let r = rows(&apps, &filter("app-0001", "prod", "", 1));
    let names: Vec<&str> = r.rows.iter().map(|r| r.app.name.as_str()).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(r.rows.iter().all(|r| r.env.unwrap().environment == "prod"));
    let degraded = rows(&apps, &filter("", "dev", "degraded", 1));
    // 0, 7, 14 … 119: 18 applications.
    assert_eq!(degraded.matched, 18);
    assert!(
        degraded
            .rows
            .iter()
            .all(|r| r.env.unwrap().health == Health::Degraded)
    );
    assert_eq!(rows(&apps, &filter("nothing", "", "", 1)).pages, 1);
}

#[test]
fn an_application_not_reconciled_yet_has_one_row_of_unknown_health() {
    let mut apps = many(2);
    apps[1].environments.clear();
    let r = rows(&apps, &Filter::default());
    assert_eq!(r.matched, 3);
    assert!(r.rows[2].env.is_none());
    assert_eq!(rows(&apps, &filter("", "", "unknown", 1)).matched, 1);
    assert_eq!(rows(&apps, &filter("", "dev", "", 1)).matched, 1);
}

#[test]
fn the_query_of_a_filter_is_escaped() {
    let f = filter("a&b", "<dev>", "", 1);
    assert_eq!(f.query(2), "name=a%26b&env=%3Cdev%3E&health=&page=2");
    assert_eq!(Filter::default().page(), 1);
    assert_eq!(filter("", "", "", 0).page(), 1);
}

#[test]
fn environments_count_their_apps_by_health() {
    let topo = ferry_core::topology::Topology::from_sources(&[(
        "t.yaml".into(),
        "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {region: uk}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: empty}\nspec: {region: uk}\n".into(),
    )])
    .unwrap();
    let mut apps = many(14);
    apps.push(app("feature", &[("feature-x", "uk")], Health::Missing));
    let counts = env_counts(&topo, &apps);
    let by: BTreeMap<&str, &EnvCounts> = counts.iter().map(|c| (c.name.as_str(), c)).collect();
    assert_eq!(by["dev"].by_health[&Health::Degraded], 2);
    assert_eq!(by["dev"].by_health[&Health::Progressing], 2);
    assert_eq!(by["dev"].by_health[&Health::Healthy], 10);
    assert!(by["empty"].by_health.is_empty());
    assert_eq!(
        by["prod"].region, "us",
        "not in the topology, from the status"
    );
    assert_eq!(by["feature-x"].by_health[&Health::Missing], 1);
}

#[test]
fn short_revisions() {
    assert_eq!(short_rev(Some("0123456789")), "0123456");
    assert_eq!(short_rev(Some("abc")), "abc");
    assert_eq!(short_rev(None), "-");
}
