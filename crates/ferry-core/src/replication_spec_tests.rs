//! Tests of `ReplicationRule` validation: fields named, private regions
//! need `mode: pull`.

use crate::topology::Topology;

const REGIONS: &str = "apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec:\n  listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: sh}\nspec:\n  listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}\n---\n";

fn load(rule: &str) -> Result<Topology, crate::Error> {
    load_with(REGIONS, rule)
}

fn load_with(regions: &str, rule: &str) -> Result<Topology, crate::Error> {
    Topology::from_sources(&[(
        "t.yaml".into(),
        format!(
            "{regions}apiVersion: ferry.dev/v1alpha1\nkind: ReplicationRule\nmetadata: {{name: r1}}\n{rule}"
        ),
    )])
}

#[test]
fn a_private_target_needs_pull_mode() {
    let private = REGIONS.replace("name: sh}\nspec:\n", "name: sh}\nspec:\n  private: true\n");
    let e = load_with(
        &private,
        "spec:\n  source: {region: uk}\n  target: {region: sh}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("t.yaml")
            && e.contains("document 2")
            && e.contains("spec.mode")
            && e.contains("`sh` is private")
            && e.contains("use `mode: pull`"),
        "{e}"
    );
    let t = load_with(
        &private,
        "spec:\n  source: {region: uk}\n  target: {region: sh}\n  mode: pull\n",
    )
    .unwrap();
    let rule = &t.replication_rules[0].spec;
    assert_eq!(rule.mode, super::ReplicationMode::Pull);
    assert!(t.regions[1].spec.private);
    let e = load_with(
        &private,
        "spec:\n  source: {region: sh}\n  target: {region: uk}\n  mode: pull\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("spec.mode") && e.contains("`mode: push`"), "{e}");
    let e = load("spec:\n  source: {region: uk}\n  target: {url: 'http://x'}\n  mode: pull\n  deletes: true\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("target must be a `region`") && e.contains("spec.deletes"),
        "{e}"
    );
    let e = load("spec:\n  source: {region: uk}\n  target: {region: sh}\n  mode: pul\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("pul"), "{e}");
}

#[test]
fn a_good_rule_loads() {
    let t = load("spec:\n  source: {region: uk}\n  target: {region: sh}\n  repositories: ['myhero/*']\n  tags: {include: ['^v'], exclude: ['-dev$']}\n  deletes: true\n").unwrap();
    assert_eq!(t.replication_rules.len(), 1);
    assert!(t.replication_rules[0].spec.deletes);
    let d = load("spec:\n  source: {region: uk}\n  target: {region: sh}\n  deletion: true\n  bandwidth: 10Mi\n").unwrap();
    let spec = &d.replication_rules[0].spec;
    assert!(spec.deletes, "`deletion` is an alias of `deletes`");
    assert_eq!(
        super::parse_bandwidth(spec.bandwidth.as_deref().unwrap()),
        Ok(10 << 20)
    );
    assert_eq!(super::parse_bandwidth("500k"), Ok(500_000));
    assert!(super::parse_bandwidth("0").is_err() && super::parse_bandwidth("Mi").is_err());
    let u = load("spec:\n  source: {url: 'http://127.0.0.1:5000', credentials: {username: u, passwordEnv: P}}\n  target: {region: sh}\n").unwrap();
    assert_eq!(
        u.replication_rules[0].spec.source.url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
}

#[test]
fn bad_rules_name_the_field() {
    let e = load("spec:\n  source: {region: ukk}\n  target: {region: sh}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.source.region") && e.contains("did you mean `uk`"),
        "{e}"
    );
    let e = load("spec:\n  source: {region: uk}\n  target: {region: uk}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("same registry"), "{e}");
    let e = load("spec:\n  source: {region: uk, url: 'http://x'}\n  target: {region: sh}\n  tags: {include: ['(']}\n  repositories: ['[']\n").unwrap_err().to_string();
    assert!(
        e.contains("`spec.source`")
            && e.contains("spec.tags.include[0]")
            && e.contains("spec.repositories[0]"),
        "{e}"
    );
    let e = load(
        "spec:\n  source: {url: 'ftp://x'}\n  target: {region: sh, credentials: {username: u}}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("spec.source.url") && e.contains("passwordEnv"),
        "{e}"
    );
    let e = load("spec:\n  source: {region: uk}\n  target: {region: sh}\n  bandwidth: 10Mo\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("spec.bandwidth") && e.contains("10Mo"), "{e}");
    let e = load("spec:\n  source: {region: uk}\n  target: {region: sh}\n  tagz: {}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tagz"), "{e}");
}
