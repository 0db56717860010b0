//! Budgets from the Kubernetes documentation's examples ("Specifying a
//! Disruption Budget for your Application", "Configure a PDB").

use super::*;

fn int(n: i32) -> Option<IntOrString> {
    Some(IntOrString::Int(n))
}

fn pct(s: &str) -> Option<IntOrString> {
    Some(IntOrString::String(s.into()))
}

fn input(
    min: Option<IntOrString>,
    max: Option<IntOrString>,
    pods: i32,
    healthy: i32,
) -> BudgetInput {
    BudgetInput {
        min_available: min,
        max_unavailable: max,
        pods,
        healthy,
        scale: Ok(pods),
        generation: 1,
    }
}

#[test]
fn min_available_two_of_three_allows_one_disruption() {
    let b = budget(&input(int(2), None, 3, 3)).unwrap();
    assert_eq!(
        (b.expected, b.desired_healthy, b.disruptions_allowed),
        (3, 2, 1)
    );
    // One pod evicted and its replacement not ready yet: none left.
    let b = budget(&input(int(2), None, 3, 2)).unwrap();
    assert_eq!(b.disruptions_allowed, 0);
}

#[test]
fn max_unavailable_thirty_percent_rounds_up() {
    // 30% of 10 is 3; of 3 it is 0.9, rounded up to 1.
    let b = budget(&input(None, pct("30%"), 10, 10)).unwrap();
    assert_eq!((b.desired_healthy, b.disruptions_allowed), (7, 3));
    let b = budget(&input(None, pct("30%"), 3, 3)).unwrap();
    assert_eq!((b.desired_healthy, b.disruptions_allowed), (2, 1));
    let b = budget(&input(None, int(1), 3, 3)).unwrap();
    assert_eq!(b.disruptions_allowed, 1);
}

#[test]
fn min_available_percent_rounds_up() {
    // The docs: 7 pods with minAvailable "50%" need 4.
    let b = budget(&input(pct("50%"), None, 7, 7)).unwrap();
    assert_eq!(
        (b.expected, b.desired_healthy, b.disruptions_allowed),
        (7, 4, 3)
    );
    let b = budget(&input(pct("100%"), None, 3, 3)).unwrap();
    assert_eq!(b.disruptions_allowed, 0);
}

#[test]
fn percentages_use_the_controllers_scale_not_the_pods_present() {
    let mut i = input(None, pct("50%"), 2, 2);
    i.scale = Ok(4);
    let b = budget(&i).unwrap();
    assert_eq!(
        (b.expected, b.desired_healthy, b.disruptions_allowed),
        (4, 2, 0)
    );
    i.scale = Err("found no controllers for pod \"a\"".into());
    assert!(budget(&i).is_err());
    let st = status(&i);
    assert_eq!(st["disruptionsAllowed"], 0);
    assert_eq!(st["conditions"][0]["reason"], "SyncFailed");
}

#[test]
fn status_reports_the_disruption_allowed_condition() {
    let st = status(&input(int(2), None, 3, 3));
    assert_eq!(st["currentHealthy"], 3);
    assert_eq!(st["desiredHealthy"], 2);
    assert_eq!(st["expectedPods"], 3);
    assert_eq!(st["disruptionsAllowed"], 1);
    assert_eq!(st["conditions"][0]["type"], "DisruptionAllowed");
    assert_eq!(st["conditions"][0]["status"], "True");
    assert_eq!(st["conditions"][0]["reason"], "SufficientPods");
    let st = status(&input(int(2), None, 3, 2));
    assert_eq!(st["conditions"][0]["status"], "False");
    assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");
}

#[test]
fn eviction_follows_the_budget_and_the_unhealthy_pod_policy() {
    let spent = budget(&input(int(2), None, 3, 2)).unwrap();
    let one = |b: Budget, p: Option<&str>| vec![("web".to_string(), b, p.map(String::from))];
    let err = evict(PodState::Healthy, &one(spent, None)).unwrap_err();
    assert_eq!(
        err,
        Refused::Violates(
            "The disruption budget web needs 2 healthy pods and has 2 currently".into()
        )
    );
    let room = budget(&input(int(2), None, 3, 3)).unwrap();
    assert!(evict(PodState::Healthy, &one(room, None)).is_ok());
    // IfHealthyBudget: an unready pod goes while the budget is met.
    assert!(evict(PodState::Unhealthy, &one(spent, None)).is_ok());
    let short = budget(&input(int(2), None, 3, 1)).unwrap();
    assert!(evict(PodState::Unhealthy, &one(short, None)).is_err());
    assert!(evict(PodState::Unhealthy, &one(short, Some("AlwaysAllow"))).is_ok());
    assert!(evict(PodState::Ignored, &one(short, None)).is_ok());
    assert!(evict(PodState::Healthy, &[]).is_ok());
    let two = [one(room, None), one(room, None)].concat();
    assert_eq!(evict(PodState::Healthy, &two), Err(Refused::SeveralBudgets));
}
