//! Jobs and CronJobs with real pods (runc, root): completions with
//! parallelism, a failing pod retried to its backoff limit, a FailJob exit
//! code, activeDeadlineSeconds killing a long pod, the immutable template,
//! and CronJobs driven by a clock the test moves across minute boundaries
//! (a Job named `<cronjob>-<minutes>`, Forbid skipping, history trimmed).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use ferry_runtime::clock::Clock;
use ferry_runtime::kinds::Kind;
use serde_json::Value;

fn job(env: &Env, name: &str) -> Value {
    env.rt
        .get(Kind::Job, "default", name)
        .unwrap_or(Value::Null)
}

fn condition(j: &Value, ty: &str) -> Option<Value> {
    j.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty && c["status"] == "True")
        .cloned()
}

fn pods_of(env: &Env, job: &str) -> Vec<Value> {
    env.rt
        .list(Kind::Pod, Some("default"))
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/labels/job-name")
                .and_then(Value::as_str)
                == Some(job)
        })
        .collect()
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: NAME}
spec:
  SPEC
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: tools:1
        command: [sh, -c, "CMD"]
"#;

fn job_yaml(name: &str, spec: &str, cmd: &str) -> String {
    JOB.replace("NAME", name)
        .replace("SPEC", spec)
        .replace("CMD", cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_with_parallelism_then_the_template_is_immutable() {
    let env = env().await;
    let text = job_yaml(
        "pi",
        "completions: 3\n  parallelism: 2",
        "echo computed by $(hostname); sleep 1",
    );
    apply(&env.rt, &text);
    let mut most_running = 0;
    let done = wait("job pi complete", Duration::from_secs(90), || {
        let running = pods_of(&env, "pi")
            .iter()
            .filter(|p| phase(p) != "Succeeded")
            .count();
        most_running = most_running.max(running);
        let j = job(&env, "pi");
        condition(&j, "Complete").map(|_| j)
    })
    .await;
    assert!(
        most_running <= 2,
        "parallelism 2, saw {most_running} at once"
    );
    assert_eq!(done["status"]["succeeded"], 3, "{done}");
    assert_eq!(done["status"]["failed"], 0, "{done}");
    assert!(done["status"]["completionTime"].is_string(), "{done}");
    let pods = pods_of(&env, "pi");
    assert_eq!(pods.len(), 3, "finished pods are kept");
    let uid = done["metadata"]["uid"].as_str().unwrap();
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix("pi-").unwrap();
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(phase(p), "Succeeded");
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
        let log = std::fs::read_to_string(env.rt.log_path("default", name, None, false).unwrap())
            .unwrap();
        assert!(log.starts_with("computed by "), "{log:?}");
    }
    // The pod template of a stored Job cannot change.
    let changed = text.replace("sleep 1", "sleep 2");
    let err = env
        .rt
        .apply(&[("pi.yaml".into(), changed)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spec.template") && err.contains("immutable"),
        "{err}"
    );
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_limit_and_pod_failure_policy() {
    let env = env().await;
    let flaky = job_yaml("flaky", "backoffLimit: 2", "echo trying; exit 1");
    let fatal = job_yaml("fatal", "backoffLimit: 6", "exit 42").replace(
        "  template:",
        "  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {containerName: main, operator: In, values: [42]}\n  template:",
    );
    apply(&env.rt, &format!("{flaky}\n---\n{fatal}"));
    let failed = wait("flaky failed", Duration::from_secs(90), || {
        let j = job(&env, "flaky");
        condition(&j, "Failed").map(|c| (j, c))
    })
    .await;
    assert_eq!(failed.1["reason"], "BackoffLimitExceeded", "{}", failed.0);
    assert_eq!(
        failed.0["status"]["failed"], 3,
        "the first try and 2 retries"
    );
    let pods = pods_of(&env, "flaky");
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| phase(p) == "Failed"), "{pods:?}");
    let f = wait("fatal failed", Duration::from_secs(60), || {
        condition(&job(&env, "fatal"), "Failed")
    })
    .await;
    assert_eq!(f["reason"], "PodFailurePolicy");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("exit code 42 matching FailJob rule at index 0"),
        "{f}"
    );
    assert_eq!(pods_of(&env, "fatal").len(), 1, "not retried");
    env.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_kills_a_long_pod() {
    let env = env().await;
    apply(
        &env.rt,
        &job_yaml(
            "slow",
            "activeDeadlineSeconds: 3",
            "echo started; exec sleep 3600",
        ),
    );
    wait("slow's pod running", Duration::from_secs(60), || {
        pods_of(&env, "slow")
            .iter()
            .any(|p| phase(p) == "Running")
            .then_some(())
    })
    .await;
    let c = wait("slow failed", Duration::from_secs(60), || {
        condition(&job(&env, "slow"), "Failed")
    })
    .await;
    assert_eq!(c["reason"], "DeadlineExceeded");
    wait("slow's pod gone", Duration::from_secs(60), || {
        pods_of(&env, "slow").is_empty().then_some(())
    })
    .await;
    let j = job(&env, "slow");
    assert_eq!(j["status"]["active"], 0, "{j}");
    assert_eq!(j["status"]["failed"], 1, "{j}");
    env.rt.shutdown().await;
}

const CRON: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: NAME}
spec:
  schedule: "* * * * *"
  timeZone: Etc/UTC
  concurrencyPolicy: POLICY
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: tools:1
            command: [sh, -c, "CMD"]
"#;

fn minute(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() / 60
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_fires_on_minute_boundaries_of_a_fake_clock() {
    let start = SystemTime::now() + Duration::from_secs(1);
    let (clock, hand) = Clock::manual(start);
    let env = env_with(|cfg| cfg.clock = clock).await;
    let cron = |name: &str, policy: &str, cmd: &str| {
        CRON.replace("NAME", name)
            .replace("POLICY", policy)
            .replace("CMD", cmd)
    };
    apply(
        &env.rt,
        &format!(
            "{}\n---\n{}",
            cron("tick", "Forbid", "exec sleep 3600"),
            cron("quick", "Allow", "echo tick")
        ),
    );
    let b1 = UNIX_EPOCH + Duration::from_secs((minute(start) + 1) * 60);
    hand.set(b1);
    let (tick1, quick1) = (
        format!("tick-{}", minute(b1)),
        format!("quick-{}", minute(b1)),
    );
    let j = wait("the first minute's Jobs", Duration::from_secs(30), || {
        let j = env.rt.get(Kind::Job, "default", &tick1).ok()?;
        env.rt.get(Kind::Job, "default", &quick1).ok()?;
        Some(j)
    })
    .await;
    assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    wait(
        "quick's first Job complete",
        Duration::from_secs(60),
        || condition(&job(&env, &quick1), "Complete"),
    )
    .await;
    wait("tick's pod running", Duration::from_secs(60), || {
        pods_of(&env, &tick1)
            .iter()
            .any(|p| phase(p) == "Running")
            .then_some(())
    })
    .await;

    let b2 = b1 + Duration::from_secs(60);
    hand.set(b2);
    let quick2 = format!("quick-{}", minute(b2));
    wait(
        "Forbid skipped tick's second minute",
        Duration::from_secs(30),
        || {
            env.rt
                .events(Some("default"), Some("CronJob/tick"))
                .iter()
                .any(|e| e.reason == "JobAlreadyActive")
                .then_some(())
        },
    )
    .await;
    assert!(
        env.rt
            .get(Kind::Job, "default", &format!("tick-{}", minute(b2)))
            .is_err()
    );
    wait(
        "quick's second Job complete",
        Duration::from_secs(60),
        || condition(&job(&env, &quick2), "Complete"),
    )
    .await;
    let cj = wait(
        "quick's history trimmed to 1",
        Duration::from_secs(30),
        || {
            let cj = env.rt.get(Kind::CronJob, "default", "quick").ok()?;
            (env.rt.get(Kind::Job, "default", &quick1).is_err()
                && cj.pointer("/status/lastSuccessfulTime").is_some())
            .then_some(cj)
        },
    )
    .await;
    let b2_text = ferry_runtime::clock::rfc3339(b2.into());
    assert_eq!(cj["status"]["lastScheduleTime"], b2_text.as_str(), "{cj}");
    let tick = env.rt.get(Kind::CronJob, "default", "tick").unwrap();
    assert_eq!(
        tick["status"]["active"][0]["name"],
        tick1.as_str(),
        "{tick}"
    );
    assert_eq!(
        tick["status"]["lastScheduleTime"],
        ferry_runtime::clock::rfc3339(b1.into()).as_str()
    );

    // Deleting the CronJob takes its Job and pod along.
    env.rt.delete(Kind::CronJob, "default", "tick").unwrap();
    wait("tick's Job and pod gone", Duration::from_secs(60), || {
        (env.rt.get(Kind::Job, "default", &tick1).is_err() && pods_of(&env, &tick1).is_empty())
            .then_some(())
    })
    .await;
    env.rt.shutdown().await;
}
