//! Tests of a change's CLI text and the line diff: ordinary values keep
//! the one-line form, a value with ` → ` or several lines becomes a block
//! that reads back unambiguously.

use super::*;
use serde_json::json;

fn change(path: &str, live: Option<Value>, desired: Option<Value>) -> Change {
    Change {
        path: path.into(),
        live,
        desired,
    }
}

#[test]
fn ordinary_values_keep_the_one_line_form() {
    let c = change("spec.replicas", Some(json!(5)), Some(json!(1)));
    assert_eq!(c.lines(), ["spec.replicas: 5 → 1"]);
    let c = change("stringData", None, Some(json!({"token": "++++++++"})));
    assert_eq!(
        c.lines(),
        ["stringData: <absent> → {\"token\":\"++++++++\"}"]
    );
    let c = change("spec.paused", Some(json!(true)), None);
    assert_eq!(c.lines(), ["spec.paused: true → <absent>"]);
    let long = "x".repeat(100);
    let c = change("data.k", Some(json!(long)), Some(json!("y")));
    assert_eq!(c.lines(), [format!("data.k: {}… → y", "x".repeat(79))]);
}

#[test]
fn a_value_containing_the_arrow_is_a_block_not_a_split_line() {
    let c = change("data.route", Some(json!("a → b")), Some(json!("a → c")));
    assert_eq!(c.lines(), ["data.route:", "  - a → b", "  + a → c"]);
    let c = change("data.route", None, Some(json!("x → y")));
    assert_eq!(c.lines(), ["data.route:", "  + x → y"], "absent: no line");
}

#[test]
fn multi_line_values_show_only_the_lines_that_changed() {
    let live = "port: 80\nhost: a\nmode: fast";
    let desired = "port: 80\nhost: b\nmode: fast\nextra: 1";
    let c = change("data.app.conf", Some(json!(live)), Some(json!(desired)));
    assert_eq!(
        c.lines(),
        [
            "data.app.conf:",
            "    port: 80",
            "  - host: a",
            "  + host: b",
            "    mode: fast",
            "  + extra: 1",
        ]
    );
    assert_eq!(
        object_lines(&[], Some("not in git")),
        ["not in git"],
        "a note follows the changes"
    );
}

#[test]
fn the_line_diff_keeps_every_line_in_order() {
    let d = line_diff(Some("a\nb\nc"), Some("b\nc\nd"));
    assert_eq!(
        d,
        [
            (Side::Live, "a"),
            (Side::Both, "b"),
            (Side::Both, "c"),
            (Side::Desired, "d")
        ]
    );
    assert!(line_diff(None, None).is_empty());
    assert_eq!(
        line_diff(Some("x\n"), Some("x")),
        [(Side::Both, "x"), (Side::Live, "")],
        "a trailing newline is a line"
    );
    let big: String = (0..600).map(|i| format!("{i}\n")).collect();
    let d = line_diff(Some(&big), Some(&big));
    assert_eq!(
        d.len(),
        2 * 601,
        "past the bound: all live, then all desired"
    );
    assert!(d[..601].iter().all(|(s, _)| *s == Side::Live));
}

#[test]
fn changes_serialise_with_null_for_an_absent_side_and_read_back() {
    let c: Change = FieldDiff {
        path: "a".into(),
        desired: json!("x\ny"),
        live: Value::Null,
    }
    .into();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v, json!({"path": "a", "live": null, "desired": "x\ny"}));
    let back: Change = serde_json::from_value(json!({"path": "a", "desired": "x\ny"})).unwrap();
    assert_eq!(back, c);
}
