//! `ferry app diff`'s text and exit status, from the API's answer
//! (`GET /api/v1/apps/{name}/diff`): a `=== env object (sync)` heading per
//! object that differs, then its fields as the engine's
//! `ferry_delivery::change` shows them — `path: live → desired`, or a block
//! of `-`/`+` lines for a value that spans lines or contains ` → ` — and
//! on standard error an environment that could not be compared and how
//! old a reused comparison is (`ageMs`, see `ferry_delivery::diff_limit`).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use ferry_delivery::change::{Change, object_lines};
use serde_json::Value;

/// Where an environment's diff is: `dev` or `dev@cluster` for a fleet.
fn place(e: &Value) -> String {
    let env = e["environment"].as_str().unwrap_or_default();
    match e["cluster"].as_str() {
        Some(c) => format!("{env}@{c}"),
        None => env.to_string(),
    }
}

/// What `ferry app diff` prints for the API's answer `v`: (standard
/// output, standard error).
pub fn render(v: &Value) -> anyhow::Result<(String, String)> {
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(ms) = v["ageMs"].as_u64().filter(|ms| *ms > 0) {
        let _ = writeln!(
            err,
            "(compared {:.1} s ago for another request and reused: ferry runs one dry run \
             per application and environment every few seconds)",
            ms as f64 / 1000.0
        );
    }
    for e in v["environments"].as_array().into_iter().flatten() {
        if let Some(m) = e["error"].as_str() {
            let _ = writeln!(err, "=== {}: cannot compare: {m}", place(e));
        }
        for o in e["objects"].as_array().into_iter().flatten() {
            let object = o["object"].as_str().unwrap_or_default();
            let _ = writeln!(
                out,
                "=== {} {object} ({})",
                place(e),
                o["sync"].as_str().unwrap_or_default()
            );
            let changes: Vec<Change> = match &o["changes"] {
                Value::Null => Vec::new(),
                c => serde_json::from_value(c.clone())
                    .with_context(|| format!("the API's changes of {object} are not readable"))?,
            };
            for line in object_lines(&changes, o["note"].as_str()) {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    Ok((out, err))
}

/// Like `diff` and `kubectl diff`: 0 when nothing differs, 1 when
/// something does, 2 when an environment could not be compared.
pub fn exit(v: &Value) -> ExitCode {
    let envs = v["environments"].as_array().cloned().unwrap_or_default();
    if envs.iter().any(|e| e["error"].is_string()) {
        ExitCode::from(2)
    } else if envs
        .iter()
        .any(|e| e["objects"].as_array().is_some_and(|o| !o.is_empty()))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_delivery::{EnvDiff, ObjectDiff};
    use serde_json::json;

    /// The API's answer for `objects` in `dev`, as the engine serialises it.
    fn answer(objects: Vec<ObjectDiff>, error: Option<&str>) -> Value {
        let env = EnvDiff {
            environment: "dev".into(),
            revision: Some("abc".into()),
            cluster: None,
            dry_run: "server",
            objects,
            error: error.map(Into::into),
        };
        json!({"name": "web", "environments": [env]})
    }

    fn change(path: &str, live: Value, desired: Value) -> Change {
        let side = |v: Value| (!v.is_null()).then_some(v);
        Change {
            path: path.into(),
            live: side(live),
            desired: side(desired),
        }
    }

    fn cm(changes: Vec<Change>) -> ObjectDiff {
        ObjectDiff {
            object: "ConfigMap/dev/cfg".into(),
            sync: "OutOfSync",
            changes,
            note: None,
        }
    }

    #[test]
    fn ordinary_values_print_as_before() {
        let v = answer(
            vec![
                cm(vec![change("data.key", json!("edited"), json!("from-git"))]),
                ObjectDiff {
                    object: "ConfigMap/dev/old".into(),
                    sync: "Extra",
                    changes: vec![],
                    note: Some("not in git: a sync with prune on deletes it".into()),
                },
            ],
            None,
        );
        let (out, err) = render(&v).unwrap();
        assert_eq!(
            out,
            "=== dev ConfigMap/dev/cfg (OutOfSync)\n  data.key: edited → from-git\n\
             === dev ConfigMap/dev/old (Extra)\n  not in git: a sync with prune on deletes it\n"
        );
        assert_eq!(err, "");
        assert_eq!(exit(&v), ExitCode::from(1));
        assert_eq!(exit(&answer(vec![], None)), ExitCode::SUCCESS);
        let failed = answer(vec![], Some("render failed"));
        assert_eq!(
            render(&failed).unwrap().1,
            "=== dev: cannot compare: render failed\n"
        );
        assert_eq!(exit(&failed), ExitCode::from(2));
        let mut reused = answer(vec![], None);
        reused["ageMs"] = json!(2500);
        let (out, err) = render(&reused).unwrap();
        assert_eq!(out, "");
        assert!(
            err.starts_with("(compared 2.5 s ago for another request and reused"),
            "{err}"
        );
    }

    #[test]
    fn arrows_and_multi_line_values_print_as_blocks() {
        let v = answer(
            vec![cm(vec![
                change("data.route", json!("a → b"), json!("c")),
                change("data.conf", json!("x: 1\ny: 2"), json!("x: 1\ny: 3")),
            ])],
            None,
        );
        let (out, _) = render(&v).unwrap();
        assert_eq!(
            out,
            "=== dev ConfigMap/dev/cfg (OutOfSync)\n  data.route:\n    - a → b\n    + c\n  \
             data.conf:\n      x: 1\n    - y: 2\n    + y: 3\n"
        );
    }
}
