//! Tests of `volume_plan.rs`: binding as Kubernetes' PV controller and the
//! local-path provisioner do it, pvc-protection and reclaim policies.

use super::*;

fn id(name: &str) -> ClaimId {
    ("default".into(), name.into())
}

fn local_path(immediate: bool) -> Class {
    Class {
        name: DEFAULT_CLASS.into(),
        provisioner: PROVISIONERS[0].into(),
        reclaim: Reclaim::Delete,
        immediate,
        default: true,
    }
}

fn claim(name: &str) -> Claim {
    Claim {
        id: id(name),
        uid: format!("uid-{name}"),
        modes: vec!["ReadWriteOnce".into()],
        request: "1Gi".into(),
        ..Default::default()
    }
}

fn bound(c: &Claim, reclaim: Reclaim) -> (Claim, Volume) {
    let v = Volume {
        name: volume_name(&c.uid),
        claim: Some((c.id.clone(), c.uid.clone())),
        reclaim,
        phase: Some("Bound".into()),
        deleting: false,
    };
    let c = Claim {
        volume_name: Some(v.name.clone()),
        phase: Some("Bound".into()),
        ..c.clone()
    };
    (c, v)
}

#[test]
fn a_claim_of_the_default_class_waits_for_its_first_consumer_then_is_provisioned() {
    let mut w = World {
        classes: vec![local_path(false)],
        claims: vec![claim("data")],
        ..Default::default()
    };
    assert_eq!(
        decide(&w),
        vec![Action::Wait {
            claim: id("data"),
            reason: "WaitForFirstConsumer",
            message: "waiting for first consumer to be created before binding".into()
        }]
    );
    w.consumed.insert(id("data"));
    assert_eq!(
        decide(&w),
        vec![Action::Provision {
            claim: id("data"),
            volume: "pvc-uid-data".into(),
            class: DEFAULT_CLASS.into(),
            reclaim: Reclaim::Delete
        }]
    );
}

#[test]
fn an_immediate_class_binds_without_a_pod_and_a_bound_claim_is_left_alone() {
    let mut c = claim("data");
    c.class = Some("fast".into());
    let fast = Class {
        name: "fast".into(),
        immediate: true,
        default: false,
        reclaim: Reclaim::Retain,
        ..local_path(true)
    };
    let w = World {
        classes: vec![local_path(false), fast],
        claims: vec![c.clone()],
        ..Default::default()
    };
    assert!(matches!(
        &decide(&w)[..],
        [Action::Provision { reclaim: Reclaim::Retain, class, .. }] if class == "fast"
    ));
    let (c, v) = bound(&c, Reclaim::Retain);
    let w = World {
        claims: vec![c],
        volumes: vec![v],
        ..w
    };
    assert!(decide(&w).is_empty());
}

#[test]
fn unknown_class_foreign_provisioner_and_no_class_wait_with_kubernetes_reasons() {
    let mut unknown = claim("a");
    unknown.class = Some("gold".into());
    let mut foreign = claim("b");
    foreign.class = Some("ebs".into());
    let mut none = claim("c");
    none.class = Some(String::new());
    let ebs = Class {
        name: "ebs".into(),
        provisioner: "ebs.csi.aws.com".into(),
        default: false,
        ..local_path(true)
    };
    let w = World {
        classes: vec![local_path(true), ebs],
        claims: vec![unknown, foreign, none],
        ..Default::default()
    };
    let reasons: Vec<(&str, String)> = decide(&w)
        .into_iter()
        .map(|a| match a {
            Action::Wait {
                reason, message, ..
            } => (reason, message),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reasons[0].0, "ProvisioningFailed");
    assert_eq!(
        reasons[0].1,
        "storageclass.storage.k8s.io \"gold\" not found"
    );
    assert_eq!(reasons[1].0, "ExternalProvisioning");
    assert!(reasons[1].1.contains("'ebs.csi.aws.com'"));
    assert_eq!(reasons[2].0, "FailedBinding");
}

#[test]
fn a_reapplied_claim_that_lost_its_volume_name_is_bound_again_to_its_volume() {
    let (mut c, v) = bound(&claim("data"), Reclaim::Delete);
    c.volume_name = None;
    let w = World {
        claims: vec![c],
        volumes: vec![v],
        ..Default::default()
    };
    assert_eq!(
        decide(&w),
        vec![Action::Bind {
            claim: id("data"),
            volume: "pvc-uid-data".into()
        }]
    );
}

#[test]
fn a_claim_in_use_is_not_removed_until_no_pod_uses_it() {
    let (mut c, v) = bound(&claim("data"), Reclaim::Delete);
    c.deleting = true;
    let mut w = World {
        claims: vec![c],
        volumes: vec![v],
        used: [id("data")].into(),
        ..Default::default()
    };
    assert!(decide(&w).is_empty(), "Terminating while a pod uses it");
    w.used.clear();
    assert_eq!(decide(&w), vec![Action::RemoveClaim { claim: id("data") }]);
}

#[test]
fn reclaim_delete_removes_the_volume_and_retain_releases_it_once() {
    let (_, delete) = bound(&claim("a"), Reclaim::Delete);
    let (_, retain) = bound(&claim("b"), Reclaim::Retain);
    let mut w = World {
        volumes: vec![delete, retain],
        ..Default::default()
    };
    assert_eq!(
        decide(&w),
        vec![
            Action::DeleteVolume {
                volume: "pvc-uid-a".into()
            },
            Action::Release {
                volume: "pvc-uid-b".into()
            }
        ]
    );
    w.volumes.remove(0);
    w.volumes[0].phase = Some("Released".into());
    assert!(decide(&w).is_empty(), "a Released volume is kept");
    w.volumes[0].deleting = true;
    assert_eq!(
        decide(&w),
        vec![Action::DeleteVolume {
            volume: "pvc-uid-b".into()
        }],
        "deleting a Released volume removes it"
    );
}

#[test]
fn a_volume_is_not_reclaimed_while_a_pod_still_names_its_claim() {
    let (_, v) = bound(&claim("a"), Reclaim::Delete);
    let w = World {
        volumes: vec![v],
        used: [id("a")].into(),
        ..Default::default()
    };
    assert!(decide(&w).is_empty());
}

#[test]
fn a_bound_claim_whose_volume_vanished_is_lost_once() {
    let (c, _) = bound(&claim("a"), Reclaim::Delete);
    let mut w = World {
        claims: vec![c],
        ..Default::default()
    };
    assert_eq!(decide(&w), vec![Action::Lost { claim: id("a") }]);
    w.claims[0].phase = Some("Lost".into());
    assert!(decide(&w).is_empty());
}

#[test]
fn the_oldest_pod_holds_a_read_write_once_pod_claim() {
    let pods = vec![
        ("2026-01-02T00:00:00Z".into(), "b".into(), "u-b".into()),
        ("2026-01-01T00:00:00Z".into(), "a".into(), "u-a".into()),
    ];
    assert_eq!(single_pod_holder(&pods), Some("u-a"));
    assert_eq!(single_pod_holder(&[]), None);
}
