//! The scheduling decisions against the Kubernetes documentation's
//! examples, with a fake clock.

use super::*;
use chrono::TimeZone;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn utc(schedule: &str) -> Schedule {
    Schedule::parse(schedule, Some("Etc/UTC")).unwrap()
}

fn input<'a>(now: &str) -> Input<'a> {
    Input {
        name: "hello",
        suspend: false,
        concurrency: "Allow",
        starting_deadline_seconds: None,
        created: at("2026-01-01T00:00:00Z"),
        last_schedule: None,
        active: vec![],
        jobs: vec![],
        now: at(now),
    }
}

#[test]
fn docs_schedules_and_macros() {
    // "0 3 * * 1": every Monday at 03:00.
    let s = utc("0 3 * * 1");
    assert_eq!(
        s.next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-01-05T03:00:00Z"))
    );
    // @hourly is "0 * * * *".
    assert_eq!(
        utc("@hourly").next_after(at("2026-01-01T10:15:00Z")),
        Some(at("2026-01-01T11:00:00Z"))
    );
    // @weekly: Sunday midnight; @monthly: the first; @yearly: 1 January.
    assert_eq!(
        utc("@weekly").next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-01-04T00:00:00Z"))
    );
    assert_eq!(
        utc("@monthly").next_after(at("2026-01-15T00:00:00Z")),
        Some(at("2026-02-01T00:00:00Z"))
    );
    assert_eq!(
        utc("@yearly").next_after(at("2026-03-01T00:00:00Z")),
        Some(at("2027-01-01T00:00:00Z"))
    );
    // Steps and names.
    assert_eq!(
        utc("*/5 * * * *").next_after(at("2026-01-01T00:07:00Z")),
        Some(at("2026-01-01T00:10:00Z"))
    );
    assert_eq!(
        utc("0 0 * JAN MON").next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-01-05T00:00:00Z")),
        "day-of-month *: only Mondays (in January)"
    );
    assert_eq!(
        utc("0 0 1 * MON").next_after(at("2026-01-27T00:00:00Z")),
        Some(at("2026-02-01T00:00:00Z")),
        "both given: either matches, as in Vixie cron (Sunday the 1st)"
    );
}

#[test]
fn time_zones_from_the_field_or_cron_tz() {
    // The docs: "CRON_TZ=UTC 0 23 * * *" — and timeZone: Europe/Berlin
    // running at 23:00 Berlin time (22:00 UTC in winter).
    let s = Schedule::parse("CRON_TZ=UTC 0 23 * * *", None).unwrap();
    assert_eq!(
        s.next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-01-01T23:00:00Z"))
    );
    let berlin = Schedule::parse("0 23 * * *", Some("Europe/Berlin")).unwrap();
    assert_eq!(
        berlin.next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2026-01-01T22:00:00Z"))
    );
    assert_eq!(
        berlin.next_after(at("2026-07-01T00:00:00Z")),
        Some(at("2026-07-01T21:00:00Z")),
        "summer time"
    );
    let both = Schedule::parse("CRON_TZ=UTC 0 23 * * *", Some("Etc/UTC")).unwrap_err();
    assert_eq!(both.0, "schedule");
    let bad = Schedule::parse("0 23 * * *", Some("Mars/Olympus")).unwrap_err();
    assert_eq!(bad.0, "timeZone");
    assert!(Schedule::parse("* * * *", None).is_err(), "4 fields");
    assert!(Schedule::parse("0 * * * * *", None).is_err(), "seconds");
    assert!(Schedule::parse("61 * * * *", None).is_err());
}

#[test]
fn fires_on_the_minute_boundary_with_a_fake_clock() {
    let s = utc("* * * * *");
    let mut i = input("2026-01-01T00:00:59Z");
    i.created = at("2026-01-01T00:00:01Z");
    assert_eq!(
        decide(&s, &i),
        Decision::Wait {
            next: Some(at("2026-01-01T00:01:00Z"))
        },
        "one second before the minute: nothing"
    );
    i.now = at("2026-01-01T00:01:00Z");
    let job = job_name("hello", at("2026-01-01T00:01:00Z"));
    assert_eq!(job, "hello-29453761", "minutes since the epoch");
    assert_eq!(
        decide(&s, &i),
        Decision::Start {
            scheduled: at("2026-01-01T00:01:00Z"),
            job: job.clone(),
            replace: vec![]
        }
    );
    // Once created (and recorded as the last schedule), not again.
    i.jobs.push(job.clone());
    assert!(matches!(decide(&s, &i), Decision::Wait { .. }));
    i.last_schedule = Some(at("2026-01-01T00:01:00Z"));
    i.now = at("2026-01-01T00:01:59Z");
    assert!(matches!(decide(&s, &i), Decision::Wait { .. }));
}

#[test]
fn missed_schedules_run_once_for_the_most_recent_time() {
    let s = utc("*/10 * * * *");
    let mut i = input("2026-01-01T01:05:00Z");
    i.last_schedule = Some(at("2026-01-01T00:00:00Z"));
    let (last, n) = s.most_recent(at("2026-01-01T00:00:00Z"), i.now);
    assert_eq!((last, n), (Some(at("2026-01-01T01:00:00Z")), 6));
    assert!(matches!(
        decide(&s, &i),
        Decision::Start { scheduled, .. } if scheduled == at("2026-01-01T01:00:00Z")
    ));
    // Far behind: still only the most recent one, counting capped.
    let (last, n) = utc("* * * * *").most_recent(at("2025-01-01T00:00:00Z"), i.now);
    assert_eq!(last, Some(at("2026-01-01T01:05:00Z")));
    assert_eq!(n, MAX_MISSED + 1);
}

#[test]
fn starting_deadline_seconds() {
    // The docs: with startingDeadlineSeconds 200, a schedule time more than
    // 200 s in the past is not started.
    let s = utc("0 * * * *");
    let mut i = input("2026-01-01T10:03:00Z");
    i.last_schedule = Some(at("2026-01-01T09:00:00Z"));
    i.starting_deadline_seconds = Some(200);
    assert!(
        matches!(decide(&s, &i), Decision::Start { .. }),
        "180 s late"
    );
    i.now = at("2026-01-01T10:04:00Z");
    assert_eq!(
        decide(&s, &i),
        Decision::Wait {
            next: Some(at("2026-01-01T11:00:00Z"))
        },
        "240 s late: outside the window, not even counted as missed"
    );
    i.now = at("2026-01-01T10:03:19Z");
    assert!(
        matches!(decide(&s, &i), Decision::Start { .. }),
        "199 s late"
    );
}

#[test]
fn concurrency_policies_and_suspend() {
    let s = utc("* * * * *");
    let mut i = input("2026-01-01T00:05:00Z");
    i.last_schedule = Some(at("2026-01-01T00:04:00Z"));
    i.active = vec!["hello-29453764".into()];
    i.jobs = i.active.clone();
    assert!(matches!(decide(&s, &i), Decision::Start { ref replace, .. } if replace.is_empty()));
    i.concurrency = "Forbid";
    assert_eq!(
        decide(&s, &i),
        Decision::Skip {
            scheduled: at("2026-01-01T00:05:00Z")
        }
    );
    i.concurrency = "Replace";
    assert!(
        matches!(decide(&s, &i), Decision::Start { ref replace, .. } if replace == &vec!["hello-29453764".to_string()])
    );
    i.suspend = true;
    assert_eq!(decide(&s, &i), Decision::Wait { next: None });
}

#[test]
fn history_limits_keep_the_newest() {
    let t = |m: u32| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, 0).unwrap();
    let f = |n: &str, ok: bool, m: u32| Finished {
        name: n.into(),
        succeeded: ok,
        started: t(m),
    };
    let jobs = [
        f("a", true, 1),
        f("b", true, 2),
        f("c", false, 3),
        f("d", true, 4),
        f("e", false, 5),
    ];
    // Defaults: 3 successful, 1 failed.
    assert_eq!(trim_history(&jobs, 3, 1), vec!["c"]);
    assert_eq!(trim_history(&jobs, 1, 0), vec!["a", "b", "c", "e"]);
}
