//! Tests of the live-diff limiter: the gate's decisions as pure logic over
//! given times, then the waiting (a request joins a running comparison,
//! one without a slot is refused after its wait, a cancelled one frees its
//! slot).

use super::*;

fn key(app: &str, env: Option<&str>) -> Key {
    (app.to_string(), env.map(str::to_string))
}

fn limits(running: usize) -> Limits {
    Limits {
        fresh: Duration::from_secs(5),
        running,
        wait: Duration::from_millis(300),
    }
}

#[test]
fn a_fresh_result_is_reused_with_its_time_and_a_stale_one_is_run_again() {
    let mut g: Gate<u32> = Gate::new(limits(2));
    let (web, t0) = (key("web", None), Instant::now());
    assert_eq!(g.admit(&web, t0), Admit::Run);
    g.finish(&web, t0 + Duration::from_secs(1), Some(7));
    let at = t0 + Duration::from_secs(1);
    assert_eq!(
        g.admit(&web, t0 + Duration::from_secs(5)),
        Admit::Reuse { result: 7, at }
    );
    assert_eq!(
        g.admit(&key("web", Some("dev")), t0),
        Admit::Run,
        "another environment is another comparison"
    );
    assert_eq!(g.admit(&web, at + Duration::from_secs(5)), Admit::Run);
    assert!(
        !g.done.contains_key(&web),
        "a stale result is forgotten, not kept"
    );
}

#[test]
fn slots_are_bounded_and_a_running_comparison_is_not_started_twice() {
    let mut g: Gate<u32> = Gate::new(limits(2));
    let t = Instant::now();
    let (a, b, c) = (key("a", None), key("b", None), key("c", None));
    assert_eq!(g.admit(&a, t), Admit::Run);
    assert_eq!(g.admit(&a, t), Admit::Wait, "a is running: wait for it");
    assert_eq!(g.admit(&b, t), Admit::Run);
    assert_eq!(g.admit(&c, t), Admit::Wait, "both slots taken");
    g.finish(&a, t, None);
    assert_eq!(
        g.admit(&a, t),
        Admit::Run,
        "a failed comparison is not kept"
    );
    g.finish(&b, t, Some(1));
    assert_eq!(g.admit(&c, t), Admit::Run, "b's slot is free");
    assert_eq!(g.admit(&b, t), Admit::Reuse { result: 1, at: t });
}

fn envs(name: &str) -> Vec<EnvDiff> {
    vec![EnvDiff {
        environment: name.into(),
        ..EnvDiff::default()
    }]
}

/// A comparison that must never be started.
fn never(why: &'static str) -> impl Future<Output = Result<Vec<EnvDiff>>> {
    std::future::poll_fn(move |_| -> std::task::Poll<Result<Vec<EnvDiff>>> { panic!("{why}") })
}

/// Waits (a deadline, not a sleep) until `k` holds a slot of `l`.
async fn running(l: &DiffLimiter, k: &Key) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !l.gate.lock_or_recover().running.contains(k) {
        assert!(Instant::now() < deadline, "{k:?} never started");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_request_joins_the_running_comparison_and_one_without_a_slot_is_refused() {
    let l = Arc::new(DiffLimiter::new(limits(1)));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn({
        let l = l.clone();
        async move {
            let compare = async move {
                rx.await.ok();
                Ok::<_, Error>(envs("dev"))
            };
            l.run(key("web", None), compare).await
        }
    });
    running(&l, &key("web", None)).await;

    let started = Instant::now();
    let refused = l.run(key("api", None), never("no slot: never run")).await;
    match refused {
        Err(Error::DiffBusy {
            running,
            retry_after,
        }) => {
            assert_eq!((running, retry_after), (1, Duration::from_secs(5)));
            assert!(started.elapsed() >= Duration::from_millis(300), "waited");
        }
        other => panic!("{other:?}"),
    }

    let second = tokio::spawn({
        let l = l.clone();
        async move {
            let compare = never("the running comparison is joined");
            l.run(key("web", None), compare).await
        }
    });
    tokio::task::yield_now().await;
    tx.send(()).unwrap();
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    assert_eq!(first.age, Duration::ZERO);
    assert!(Arc::ptr_eq(&first.environments, &second.environments));
    assert_eq!(second.environments[0].environment, "dev");
}

#[tokio::test]
async fn a_cancelled_request_frees_its_slot_and_a_failed_one_keeps_nothing() {
    let l = Arc::new(DiffLimiter::new(limits(1)));
    let stuck = tokio::spawn({
        let l = l.clone();
        async move {
            let compare = std::future::pending::<Result<Vec<EnvDiff>>>();
            l.run(key("web", None), compare).await
        }
    });
    running(&l, &key("web", None)).await;
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());
    assert!(l.gate.lock_or_recover().running.is_empty());

    let failed = l
        .run(key("web", None), async {
            Err::<Vec<EnvDiff>, _>(Error::Conflict("render failed".into()))
        })
        .await;
    assert!(matches!(failed, Err(Error::Conflict(_))), "{failed:?}");
    let ok = l
        .run(key("web", None), async { Ok::<_, Error>(envs("dev")) })
        .await;
    assert_eq!(ok.unwrap().age, Duration::ZERO, "run again, not reused");
}
