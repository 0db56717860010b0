//! `get jobs` and `get cronjobs` as kubectl prints them: a Job's STATUS,
//! COMPLETIONS and AGE; a CronJob's SCHEDULE, TIMEZONE, SUSPEND, ACTIVE,
//! LAST SCHEDULE and AGE.

use serde_json::Value;

use super::{Table, age, s};

/// The table of `kind` (`jobs`/`cronjobs`), or `None` for other kinds.
pub fn table(kind: &str, items: &[Value], name: &dyn Fn(String) -> String) -> Option<Table> {
    match kind {
        "jobs" | "job" => Some((
            vec!["NAME", "STATUS", "COMPLETIONS", "AGE"],
            items
                .iter()
                .map(|j| {
                    let want = j
                        .pointer("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let done = j
                        .pointer("/status/succeeded")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    vec![
                        name(s(j, "/metadata/name")),
                        status(j),
                        format!("{done}/{want}"),
                        age(j),
                    ]
                })
                .collect(),
        )),
        "cronjobs" | "cronjob" | "cj" => Some((
            vec![
                "NAME",
                "SCHEDULE",
                "TIMEZONE",
                "SUSPEND",
                "ACTIVE",
                "LAST SCHEDULE",
                "AGE",
            ],
            items
                .iter()
                .map(|c| {
                    let active = c
                        .pointer("/status/active")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let or_none = |v: String| {
                        if v.is_empty() {
                            "<none>".to_string()
                        } else {
                            v
                        }
                    };
                    vec![
                        name(s(c, "/metadata/name")),
                        s(c, "/spec/schedule"),
                        or_none(s(c, "/spec/timeZone")),
                        (c.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true))
                            .to_string()
                            .replace("true", "True")
                            .replace("false", "False"),
                        active.to_string(),
                        or_none(s(c, "/status/lastScheduleTime")),
                        age(c),
                    ]
                })
                .collect(),
        )),
        _ => None,
    }
}

/// kubectl's Job STATUS: Complete, Failed, Suspended or Running.
fn status(j: &Value) -> String {
    let conditions = j.pointer("/status/conditions").and_then(Value::as_array);
    for ty in ["Complete", "Failed", "Suspended"] {
        if conditions
            .into_iter()
            .flatten()
            .any(|c| c["type"] == ty && c["status"] == "True")
        {
            return ty.into();
        }
    }
    "Running".into()
}
