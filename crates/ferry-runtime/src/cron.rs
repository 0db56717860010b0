//! CronJob scheduling as Kubernetes' CronJob controller decides it, pure
//! and clock-injected: the schedule (5-field cron with `@hourly`-style
//! macros, parsed by `croner`) in its time zone (`spec.timeZone`, or a
//! `CRON_TZ=`/`TZ=` prefix; else the machine's), the most recent missed
//! schedule time, `startingDeadlineSeconds`, `concurrencyPolicy`, Job
//! names (`<cronjob>-<scheduled minutes since epoch>`) and history limits.
//! `cronjob.rs` applies the decisions.

use chrono::{DateTime, Duration, Local, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The zone a schedule is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Zone {
    Local,
    Named(Tz),
}

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Zone,
}

/// Kubernetes gives up counting missed times past this many.
const MAX_MISSED: usize = 100;

impl Schedule {
    /// Parses `spec.schedule` with `spec.timeZone`; the error says what is
    /// wrong, for the caller to put at the field.
    pub fn parse(schedule: &str, time_zone: Option<&str>) -> Result<Self, (&'static str, String)> {
        let mut text = schedule.trim();
        let mut zone_name = time_zone.map(str::to_string);
        for prefix in ["CRON_TZ=", "TZ="] {
            if let Some(rest) = text.strip_prefix(prefix) {
                if time_zone.is_some() {
                    return Err((
                        "schedule",
                        "give the time zone once: in spec.timeZone or as CRON_TZ= in the schedule, not both".into(),
                    ));
                }
                let (tz, cron) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                zone_name = Some(tz.to_string());
                text = cron.trim();
            }
        }
        let zone = match zone_name {
            None => Zone::Local,
            Some(n) => Zone::Named(n.parse::<Tz>().map_err(|_| {
                (
                    "timeZone",
                    format!("unknown time zone `{n}`: give an IANA name such as Etc/UTC or Europe/Berlin"),
                )
            })?),
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(text).map_err(|e| {
            (
                "schedule",
                format!("`{text}` is not a cron schedule ({e}): give 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly"),
            )
        })?;
        Ok(Self { cron, zone })
    }

    /// The first schedule time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Local => self
                .cron
                .find_next_occurrence(&t.with_timezone(&Local), false)
                .ok()
                .map(|x| x.with_timezone(&Utc)),
            Zone::Named(tz) => self
                .cron
                .find_next_occurrence(&t.with_timezone(&tz), false)
                .ok()
                .map(|x| x.with_timezone(&Utc)),
        }
    }

    /// The latest schedule time in `(earliest, now]` and how many there
    /// were (counting stops at 100, as Kubernetes').
    pub fn most_recent(
        &self,
        earliest: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, usize) {
        let (mut last, mut n, mut t) = (None, 0, earliest);
        while let Some(next) = self.next_after(t) {
            if next > now {
                break;
            }
            last = Some(next);
            n += 1;
            t = next;
            if n == MAX_MISSED + 1 {
                // Too many to count: only the most recent one matters, and
                // it is found going back from now.
                let back = match self.zone {
                    Zone::Local => self
                        .cron
                        .find_previous_occurrence(&now.with_timezone(&Local), true)
                        .ok()
                        .map(|x| x.with_timezone(&Utc)),
                    Zone::Named(tz) => self
                        .cron
                        .find_previous_occurrence(&now.with_timezone(&tz), true)
                        .ok()
                        .map(|x| x.with_timezone(&Utc)),
                };
                return (back.or(last), n);
            }
        }
        (last, n)
    }
}

/// What the controller knows about one CronJob at `now`.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub name: &'a str,
    pub suspend: bool,
    /// `Allow` (default), `Forbid` or `Replace`.
    pub concurrency: &'a str,
    pub starting_deadline_seconds: Option<i64>,
    pub created: DateTime<Utc>,
    pub last_schedule: Option<DateTime<Utc>>,
    /// Names of its Jobs that have not finished.
    pub active: Vec<String>,
    /// Names of all its Jobs.
    pub jobs: Vec<String>,
    pub now: DateTime<Utc>,
}

/// What to do about one CronJob now.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing due (or suspended); look again at `next` (if any).
    Wait { next: Option<DateTime<Utc>> },
    /// Forbid with a Job still running: this schedule time is skipped.
    Skip { scheduled: DateTime<Utc> },
    /// Create Job `job` for `scheduled`, first deleting `replace` (Replace).
    Start {
        scheduled: DateTime<Utc>,
        job: String,
        replace: Vec<String>,
    },
}

/// The name of the Job for a schedule time, as Kubernetes names it.
pub fn job_name(cronjob: &str, scheduled: DateTime<Utc>) -> String {
    format!("{cronjob}-{}", scheduled.timestamp().div_euclid(60))
}

/// Kubernetes' syncCronJob decision for `input` under `schedule`.
pub fn decide(schedule: &Schedule, input: &Input<'_>) -> Decision {
    let next = schedule.next_after(input.now);
    if input.suspend {
        return Decision::Wait { next: None };
    }
    let mut earliest = input.last_schedule.unwrap_or(input.created);
    if let Some(d) = input.starting_deadline_seconds {
        earliest = earliest.max(input.now - Duration::seconds(d));
    }
    // A time older than the starting deadline is never started: it lies
    // before `earliest`, so it is not even found.
    let (Some(scheduled), _) = schedule.most_recent(earliest, input.now) else {
        return Decision::Wait { next };
    };
    let job = job_name(input.name, scheduled);
    if input.jobs.contains(&job) {
        return Decision::Wait { next };
    }
    match input.concurrency {
        "Forbid" if !input.active.is_empty() => Decision::Skip { scheduled },
        "Replace" => Decision::Start {
            scheduled,
            job,
            replace: input.active.clone(),
        },
        _ => Decision::Start {
            scheduled,
            job,
            replace: vec![],
        },
    }
}

/// A finished Job of a CronJob, for history trimming.
#[derive(Debug, Clone)]
pub struct Finished {
    pub name: String,
    pub succeeded: bool,
    /// Start (or creation) time: what orders the history.
    pub started: DateTime<Utc>,
}

/// The finished Jobs past the history limits (oldest first), to delete.
pub fn trim_history(jobs: &[Finished], successful_limit: i32, failed_limit: i32) -> Vec<String> {
    let mut out = Vec::new();
    for (ok, limit) in [(true, successful_limit), (false, failed_limit)] {
        let mut these: Vec<&Finished> = jobs.iter().filter(|j| j.succeeded == ok).collect();
        these.sort_by_key(|j| (j.started, j.name.clone()));
        let excess = these.len().saturating_sub(limit.max(0) as usize);
        out.extend(these[..excess].iter().map(|j| j.name.clone()));
    }
    out
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
