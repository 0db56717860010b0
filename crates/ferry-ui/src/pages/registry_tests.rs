//! The registry browser's view: where an image is held, sizes, paging,
//! referrers bounded, everything escaped.

use ferry_registry::browse::Referrer;

use super::*;

fn info(tag: &str, referrers: usize) -> TagInfo {
    TagInfo {
        tag: tag.into(),
        digest: format!("sha256:{}", "ab".repeat(32)),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        manifest_size: 400,
        content_size: 3 * 1024 * 1024,
        platforms: vec![],
        referrers: (0..referrers)
            .map(|i| Referrer {
                digest: format!("sha256:{i:064}"),
                artifact_type: "application/vnd.dev.sigstore.bundle+json".into(),
                size: 900,
            })
            .collect(),
    }
}

fn pending(rule: &str, tag: &str) -> PendingCopy {
    PendingCopy {
        rule: rule.into(),
        repository: "web".into(),
        reference: tag.into(),
        attempts: 2,
        last_error: Some("connection refused".into()),
    }
}

#[test]
fn an_image_is_here_and_at_each_rules_target() {
    let targets = [
        ("uk-to-us".to_string(), "us".to_string()),
        ("uk-to-eu".to_string(), "eu".to_string()),
        ("uk-to-ap".to_string(), "ap".to_string()),
    ];
    let waiting = [pending("uk-to-eu", "v1"), pending("uk-to-us", "v2")];
    let h = held("uk", "web", "v1", &targets, &waiting, |r| r != "uk-to-ap");
    assert_eq!(h.len(), 4);
    assert_eq!((h[0].region.as_str(), &h[0].state), ("uk", &Replica::Here));
    assert_eq!(h[1].state, Replica::Replicated, "no copy pending for v1");
    assert_eq!(
        h[2].state,
        Replica::Pending(2, Some("connection refused".into()))
    );
    assert_eq!(h[3].state, Replica::Unchecked, "no pass yet");
}

#[test]
fn sizes_read_as_people_read_them() {
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 * 1024 * 1024 + 400), "3.0 MiB");
}

#[test]
fn a_tag_row_shows_digest_size_referrers_and_regions() {
    let row = TagRow {
        info: info("v1", 7),
        held: held(
            "uk",
            "web",
            "v1",
            &[("r".into(), "us".into())],
            &[pending("r", "v1")],
            |_| true,
        ),
    };
    let page = TagPage {
        total: 120,
        tags: vec![row.info.clone()],
    };
    let html = repository("team/web", &page, &[row], 2);
    assert!(html.contains("<h1>team/web"), "{html}");
    assert!(html.contains("120 tags"));
    assert!(html.contains("<th scope=\"row\">v1</th>"));
    assert!(html.contains("sha256:abababababab"), "{html}");
    assert!(html.contains("3.0 MiB"));
    assert!(html.contains("and 2 more"), "7 referrers, 5 shown");
    assert_eq!(html.matches("sigstore").count(), 5);
    assert!(
        html.contains("uk <span class=\"badge b-held\">held</span>"),
        "{html}"
    );
    assert!(html.contains("us <span class=\"badge b-pending\">pending</span>"));
    assert!(html.contains("connection refused"));
    let long = PendingCopy {
        last_error: Some("x".repeat(1000)),
        ..pending("r", "v1")
    };
    let row = TagRow {
        info: info("v1", 0),
        held: held(
            "uk",
            "web",
            "v1",
            &[("r".into(), "us".into())],
            &[long],
            |_| true,
        ),
    };
    let one = repository(
        "web",
        &TagPage {
            total: 1,
            tags: vec![],
        },
        &[row],
        1,
    );
    assert!(one.contains(&format!("{}…", "x".repeat(160))) && !one.contains(&"x".repeat(161)));
    assert!(one.contains("1 tag<"));
    assert!(html.contains("href=\"/ui/registry/repo?name=team%2Fweb&amp;page=1\">Previous"));
    assert!(html.contains("href=\"/ui/registry/repo?name=team%2Fweb&amp;page=3\">Next"));
    assert!(html.contains("page 2 of 3"));
}

#[test]
fn repositories_are_paged_and_escaped() {
    let repos: Vec<String> = (0..250).map(|i| format!("r{i:03}")).collect();
    let html = repositories(&repos, 3);
    assert!(html.contains("250 repositories"));
    assert!(html.contains(">r200</a>") && html.contains(">r249</a>"));
    assert!(!html.contains(">r199</a>"), "page 3 starts at 200");
    assert!(html.contains("page 3 of 3"));
    let evil = repositories(&["<b>x</b>".to_string()], 1);
    assert!(evil.contains("&lt;b&gt;x&lt;/b&gt;") && !evil.contains("<b>x"));
    assert!(repositories(&[], 1).contains("No repositories"));
    assert!(repositories(&["a".to_string()], 1).contains("1 repository<"));
}
