//! The delivery-path map: build regions, rule chains, environments, what a
//! viewer may see, and the SVG and list it renders to.

use super::*;

/// Regions uk, us, ap; environments dev (uk), prod (us), prod-ap (ap);
/// pipelines web and api built in uk; rules uk → us → ap and uk → a URL.
pub(crate) fn topology() -> Topology {
    let mut y = String::new();
    for (i, r) in ["uk", "us", "ap"].iter().enumerate() {
        y.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {{name: {r}}}\nspec: {{dataDir: {r}, listeners: {{api: 127.0.0.1:{}, registry: 127.0.0.1:{}, gateway: 127.0.0.1:{}}}}}\n",
            17000 + i * 3,
            17001 + i * 3,
            17002 + i * 3
        ));
    }
    for (env, region) in [("dev", "uk"), ("prod", "us"), ("prod-ap", "ap")] {
        y.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{name: {env}}}\nspec: {{region: {region}}}\n"
        ));
    }
    for (name, src, target) in [
        ("uk-to-us", "uk", "region: us"),
        ("us-to-ap", "us", "region: ap"),
        ("uk-to-hub", "uk", "url: 'https://hub.example/v2'"),
    ] {
        y.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: {name}}}\nspec: {{source: {{region: {src}}}, target: {{{target}}}}}\n"
        ));
    }
    for app in ["web", "api"] {
        y.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {{name: {app}}}\nspec: {{source: {{repoUrl: 'https://git.example/{app}.git'}}}}\n\
             ---\napiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nmetadata: {{name: {app}}}\nspec:\n  application: {app}\n  buildRegion: uk\n  images: [{{name: team/{app}, context: .}}]\n  rules: [{{branch: main, imageTag: 'main-{{sha7}}'}}]\n"
        ));
    }
    Topology::from_sources(&[("t.yaml".into(), y)]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_map_follows_rules_from_the_build_region_to_environments() {
    let t = topology();
    let m = build(&t, &["web", "api"], |_| true);
    let labels: Vec<(usize, &str)> = m
        .nodes
        .iter()
        .map(|n| (n.column, n.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            (0, "uk"),
            (1, "us"),
            (1, "https://hub.example/v2"),
            (1, "ap"),
            (2, "dev"),
            (2, "prod"),
            (2, "prod-ap"),
        ]
    );
    assert_eq!(m.nodes[0].note, "builds web, api");
    let rules: Vec<&str> = m
        .edges
        .iter()
        .map(|e| e.label.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rules, ["uk-to-us", "uk-to-hub", "us-to-ap"]);
    let us_to_ap = m.edges.iter().find(|e| e.label == "us-to-ap").unwrap();
    assert_eq!(
        m.nodes[us_to_ap.from].label, "us",
        "a chain starts at the replica"
    );
}

#[test]
fn a_viewer_sees_only_their_pipelines_and_environments() {
    let t = topology();
    let m = build(&t, &["web"], |env| env != "prod-ap");
    assert_eq!(m.nodes[0].note, "builds web");
    assert!(m.nodes.iter().all(|n| n.label != "prod-ap"));
    assert!(
        build(&t, &[], |_| true).nodes.is_empty(),
        "no pipeline, no map"
    );
    assert!(render(&Map::default()).contains("nothing to map"));
}

#[test]
fn the_map_renders_as_svg_and_as_a_list() {
    let html = render(&build(&topology(), &["web", "api"], |_| true));
    assert!(html.starts_with("<section id=\"delivery-map\">"));
    assert!(html.contains("<svg class=\"map\""));
    assert_eq!(html.matches("<rect ").count(), 7);
    assert_eq!(html.matches("class=\"map-edge\"").count(), 6);
    assert!(
        html.contains("<li>uk replicates by rule uk-to-us to us</li>"),
        "{html}"
    );
    assert!(html.contains("<li>us deploys to environment prod</li>"));
    assert!(
        !html.contains("style="),
        "no inline style (the CSP forbids it)"
    );
    assert!(!html.contains("href="), "no external asset or link");
}

#[test]
fn regions_and_rules_are_marked_in_words() {
    let mut m = build(&topology(), &["web", "api"], |_| true);
    mark(
        &mut m,
        |region| match region {
            "uk" => Some("up"),
            "us" => Some("unreachable"),
            _ => None,
        },
        |rule| (rule == "uk-to-us").then(|| "2 pending".to_string()),
    );
    let html = render(&m);
    assert!(
        html.contains(
            "<li>uk (up) replicates by rule uk-to-us (2 pending) to us (unreachable)</li>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<li>us (unreachable) replicates by rule us-to-ap to ap</li>"),
        "a region not known, a rule not run here: unmarked: {html}"
    );
    assert!(
        html.contains("<li>us (unreachable) deploys to environment prod</li>"),
        "environments are not marked: {html}"
    );
    assert!(html.contains("builds web, api (up)</text>"), "{html}");
}
