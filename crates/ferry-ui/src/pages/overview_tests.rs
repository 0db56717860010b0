//! Tests of the overview: each region's state and version, and the registry section: a row per rule with queue,
//! lag and bytes in flight, escaping, and what a scoped viewer or a region
//! without replication sees.

use super::*;

fn rule(name: &str, pending: usize, lag_seconds: f64, in_flight: u64) -> RuleStatus {
    RuleStatus {
        name: name.into(),
        source: "uk".into(),
        target: "us".into(),
        pending,
        lag_seconds,
        bytes_in_flight: in_flight,
        last_error: Some("connection refused <x>".into()),
        ..RuleStatus::default()
    }
}

#[test]
fn each_rule_shows_its_queue_lag_and_bytes_in_flight() {
    let rules = [
        rule("uk-to-us", 3, 185.4, 5 * 1024 * 1024),
        rule("idle", 0, 0.0, 0),
    ];
    let html = registry_section("uk", RegistryState::Rules(&rules));
    let row = html
        .split("<th scope=\"row\">uk-to-us</th>")
        .nth(1)
        .unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("<td>us</td><td class=\"num\">3</td>"), "{row}");
    assert!(row.contains(">3 min 5 s<"), "{row}");
    assert!(row.contains(">5.0 MiB<"), "{row}");
    assert!(row.contains("connection refused &lt;x&gt;"), "{row}");
    let idle = html.split("<th scope=\"row\">idle</th>").nth(1).unwrap();
    assert!(idle.contains(">0 s<") && idle.contains(">0 B<"), "{idle}");
    assert!(html.contains("region uk"));
}

#[test]
fn no_rules_a_scoped_viewer_and_no_replication_say_so() {
    let html = registry_section("uk", RegistryState::Rules(&[]));
    assert!(html.contains("No replication rule starts here."));
    let html = registry_section("uk", RegistryState::Hidden);
    assert!(html.contains("needs a token without a scope") && !html.contains("<table"));
    let html = registry_section("uk", RegistryState::NoReplication);
    assert!(html.contains("replicates nothing"));
}

#[test]
fn lags_read_in_the_largest_units() {
    assert_eq!(lag(0.0), "0 s");
    assert_eq!(lag(-1.0), "0 s");
    assert_eq!(lag(59.4), "59 s");
    assert_eq!(lag(3600.0 * 2.0 + 600.0), "2 h 10 min");
}

#[test]
fn regions_show_up_unreachable_since_or_unknown_with_versions() {
    let row = |name: &str, reach: Reach| RegionRow {
        name: name.into(),
        api: "127.0.0.1:1".into(),
        this: name == "uk",
        environments: 1,
        reach,
    };
    let regions = [
        row(
            "uk",
            Reach::Local {
                version: "0.1.0".into(),
            },
        ),
        row(
            "us",
            Reach::Up {
                version: Some("0.2.0".into()),
                checked: "2026-01-01 00:00:00".into(),
            },
        ),
        row(
            "sh",
            Reach::Unreachable {
                since: "2026-01-01 00:01:00".into(),
                error: "<cut>".into(),
                version: None,
            },
        ),
        row("eu", Reach::Unknown),
    ];
    let html = overview(&regions, &[]);
    assert!(
        html.contains("this process</span></td><td>0.1.0</td>"),
        "{html}"
    );
    assert!(
        html.contains("checked 2026-01-01 00:00:00</span></td><td>0.2.0</td>"),
        "{html}"
    );
    assert!(html.contains("unreachable</span> since 2026-01-01 00:01:00 <span class=\"why\">&lt;cut&gt;</span></td><td>-</td>"), "{html}");
    assert!(html.contains("<td>not checked yet</td><td>-</td>"));
}
