//! One test per health rule: each starts from a healthy object and breaks
//! the one thing the rule looks at.

use serde_json::{Value, json};

use super::*;

fn health(v: &Value) -> Health {
    object_health(Some(v))
}

fn reason(v: &Value) -> Option<String> {
    assess(Some(v)).reason
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"generation": 3}, "spec": {"replicas": 2},
        "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}})
}

#[test]
fn deployment_waits_for_generation_updated_old_and_available_replicas() {
    let mut d = deployment();
    assert_eq!(health(&d), Health::Healthy);
    d["status"]["observedGeneration"] = json!(2);
    assert_eq!(health(&d), Health::Progressing, "generation not observed");
    let mut d = deployment();
    d["status"]["updatedReplicas"] = json!(1);
    assert_eq!(health(&d), Health::Progressing, "one replica not updated");
    let mut d = deployment();
    d["status"]["replicas"] = json!(3);
    assert_eq!(health(&d), Health::Progressing, "an old replica remains");
    let mut d = deployment();
    d["status"]["availableReplicas"] = json!(1);
    assert_eq!(health(&d), Health::Progressing, "one replica unavailable");
    let mut d = deployment();
    d["spec"]["replicas"] = json!(0);
    d["status"] = json!({"observedGeneration": 3});
    assert_eq!(health(&d), Health::Healthy, "scaled to zero");
}

#[test]
fn deployment_past_its_progress_deadline_is_degraded_with_the_reason() {
    let mut d = deployment();
    d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}]);
    let a = assess(Some(&d));
    assert_eq!(a.health, Health::Degraded);
    assert_eq!(a.reason.as_deref(), Some("ProgressDeadlineExceeded"));
    assert!(a.message.unwrap().contains("timed out"));
}

#[test]
fn paused_deployment_is_suspended() {
    let mut d = deployment();
    d["spec"]["paused"] = json!(true);
    assert_eq!(health(&d), Health::Suspended);
    assert_eq!(reason(&d).as_deref(), Some("Paused"));
}

#[test]
fn deployment_without_status_or_generation_still_progresses() {
    assert_eq!(health(&json!({"kind": "Deployment"})), Health::Progressing);
    // Targets that report readiness only (no availableReplicas).
    let d = json!({"kind": "Deployment", "spec": {"replicas": 2},
        "status": {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}});
    assert_eq!(health(&d), Health::Healthy);
}

fn stateful_set() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"generation": 1}, "spec": {"replicas": 3},
        "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
            "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"}})
}

#[test]
fn stateful_set_waits_for_ready_pods_and_the_update_revision() {
    let mut s = stateful_set();
    assert_eq!(health(&s), Health::Healthy);
    s["status"]["readyReplicas"] = json!(2);
    assert_eq!(health(&s), Health::Progressing, "a pod not ready");
    let mut s = stateful_set();
    s["status"]["updateRevision"] = json!("db-2");
    assert_eq!(health(&s), Health::Progressing, "rolling update running");
    s["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    assert_eq!(health(&s), Health::Healthy, "OnDelete does not wait");
    let mut s = stateful_set();
    s["status"]["updateRevision"] = json!("db-2");
    s["status"]["updatedReplicas"] = json!(1);
    s["spec"]["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
    assert_eq!(
        health(&s),
        Health::Healthy,
        "the one pod above the partition is updated"
    );
    s["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(1);
    assert_eq!(
        health(&s),
        Health::Progressing,
        "two pods above the partition"
    );
    let mut s = stateful_set();
    s["status"]
        .as_object_mut()
        .unwrap()
        .remove("observedGeneration");
    assert_eq!(health(&s), Health::Progressing, "never observed");
}

#[test]
fn daemon_set_waits_for_updated_and_available_pods() {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"generation": 2},
        "status": {"observedGeneration": 2, "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3, "numberAvailable": 3}});
    assert_eq!(health(&d), Health::Healthy);
    d["status"]["numberAvailable"] = json!(2);
    assert_eq!(health(&d), Health::Progressing);
    d["status"]["numberAvailable"] = json!(3);
    d["status"]["updatedNumberScheduled"] = json!(1);
    assert_eq!(health(&d), Health::Progressing);
    d["spec"] = json!({"updateStrategy": {"type": "OnDelete"}});
    assert_eq!(health(&d), Health::Healthy);
    d["status"]["observedGeneration"] = json!(1);
    assert_eq!(health(&d), Health::Progressing);
}

#[test]
fn replica_set_failure_is_degraded_with_its_reason() {
    let mut r = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"replicas": 2},
        "status": {"replicas": 2, "availableReplicas": 2}});
    assert_eq!(health(&r), Health::Healthy);
    r["status"]["availableReplicas"] = json!(1);
    assert_eq!(health(&r), Health::Progressing);
    r["status"]["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
        "reason": "FailedCreate", "message": "pods \"web-x\" is forbidden: exceeded quota"}]);
    assert_eq!(health(&r), Health::Degraded);
    assert_eq!(reason(&r).as_deref(), Some("FailedCreate"));
}

fn pod(phase: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "spec": {},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": true, "state": {"running": {}}}]}})
}

#[test]
fn pod_waiting_on_image_pull_or_crash_loop_is_degraded_with_the_reason() {
    for why in ["ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff"] {
        let mut p = pod("Running");
        p["status"]["containerStatuses"][0]["state"] =
            json!({"waiting": {"reason": why, "message": "back-off pulling image"}});
        let a = assess(Some(&p));
        assert_eq!(a.health, Health::Degraded, "{why}");
        assert_eq!(a.reason.as_deref(), Some(why));
        assert!(a.message.unwrap().contains("container `web`"));
    }
    let mut p = pod("Pending");
    p["status"]["initContainerStatuses"] =
        json!([{"name": "init", "state": {"waiting": {"reason": "ErrImagePull"}}}]);
    assert_eq!(reason(&p).as_deref(), Some("ErrImagePull"));
    let mut p = pod("Pending");
    p["status"]["containerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "ContainerCreating"}});
    assert_eq!(health(&p), Health::Progressing, "not a failing reason");
}

#[test]
fn pod_health_by_phase_and_readiness() {
    assert_eq!(health(&pod("Running")), Health::Healthy);
    assert_eq!(health(&pod("Succeeded")), Health::Healthy);
    assert_eq!(health(&pod("Pending")), Health::Progressing);
    let mut p = pod("Running");
    p["status"]["conditions"][0]["status"] = json!("False");
    assert_eq!(health(&p), Health::Progressing, "running but not ready");
    let mut p = pod("Running");
    p["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(health(&p), Health::Progressing, "runs to completion");
    let mut p = pod("Failed");
    p["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"reason": "OOMKilled", "exitCode": 137}});
    assert_eq!(health(&p), Health::Degraded);
    assert_eq!(reason(&p).as_deref(), Some("OOMKilled"));
}

#[test]
fn job_failed_complete_running_and_suspended() {
    let mut j = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {},
        "status": {"active": 1}});
    assert_eq!(health(&j), Health::Progressing);
    j["status"]["conditions"] = json!([{"type": "Complete", "status": "True"}]);
    assert_eq!(health(&j), Health::Healthy);
    j["status"]["conditions"] = json!([{"type": "Failed", "status": "True",
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]);
    assert_eq!(health(&j), Health::Degraded);
    assert_eq!(reason(&j).as_deref(), Some("BackoffLimitExceeded"));
    j["spec"]["suspend"] = json!(true);
    assert_eq!(health(&j), Health::Suspended);
}

#[test]
fn cron_job_follows_its_last_scheduled_run() {
    let mut c = json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {}, "status": {}});
    assert_eq!(health(&c), Health::Healthy, "never scheduled");
    c["status"]["lastScheduleTime"] = json!("2026-12-06T10:00:00Z");
    assert_eq!(health(&c), Health::Degraded, "scheduled, never succeeded");
    assert_eq!(reason(&c).as_deref(), Some("LastJobFailed"));
    c["status"]["lastSuccessfulTime"] = json!("2026-12-06T10:00:07Z");
    assert_eq!(health(&c), Health::Healthy);
    c["status"]["lastScheduleTime"] = json!("2026-12-06T11:00:00Z");
    assert_eq!(health(&c), Health::Degraded, "the later run failed");
    c["status"]["active"] = json!([{"name": "backup-1"}]);
    assert_eq!(health(&c), Health::Progressing);
    c["spec"]["suspend"] = json!(true);
    assert_eq!(health(&c), Health::Suspended);
}

#[test]
fn load_balancer_service_and_ingress_wait_for_an_address() {
    let mut s = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {}}});
    assert_eq!(health(&s), Health::Progressing);
    s["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
    assert_eq!(health(&s), Health::Healthy);
    s["spec"]["type"] = json!("ClusterIP");
    s["status"] = json!({"loadBalancer": {}});
    assert_eq!(health(&s), Health::Healthy, "only LoadBalancer waits");
    let mut i = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "status": {"loadBalancer": {"ingress": [{}]}}});
    assert_eq!(
        health(&i),
        Health::Progressing,
        "an entry without ip or hostname"
    );
    i["status"]["loadBalancer"]["ingress"] = json!([{"hostname": "lb.example"}]);
    assert_eq!(health(&i), Health::Healthy);
    // The embedded runtime keeps routing objects without any status.
    let bare = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress"});
    assert_eq!(health(&bare), Health::Healthy);
}

#[test]
fn claims_must_be_bound() {
    let mut c = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "status": {"phase": "Pending"}});
    assert_eq!(health(&c), Health::Progressing);
    c["status"]["phase"] = json!("Bound");
    assert_eq!(health(&c), Health::Healthy);
    c["status"]["phase"] = json!("Lost");
    assert_eq!(health(&c), Health::Degraded);
}

#[test]
fn autoscaler_conditions() {
    let mut h =
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "status": {}});
    assert_eq!(health(&h), Health::Progressing, "no conditions yet");
    h["status"]["conditions"] = json!([
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}]);
    assert_eq!(health(&h), Health::Healthy);
    h["status"]["conditions"][1] = json!({"type": "ScalingActive", "status": "False",
        "reason": "FailedGetResourceMetric", "message": "unable to get metrics for resource cpu"});
    assert_eq!(health(&h), Health::Degraded);
    assert_eq!(reason(&h).as_deref(), Some("FailedGetResourceMetric"));
    h["status"]["conditions"][1]["reason"] = json!("ScalingDisabled");
    assert_eq!(health(&h), Health::Healthy, "scaled to zero on purpose");
    h["status"]["conditions"][0] =
        json!({"type": "AbleToScale", "status": "False", "reason": "FailedGetScale"});
    assert_eq!(health(&h), Health::Degraded);
}

#[test]
fn custom_resources_follow_ready_then_available() {
    let mut c = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(health(&c), Health::Healthy);
    c["status"]["conditions"][0] = json!({"type": "Ready", "status": "False",
        "reason": "DoesNotExist", "message": "Issuer letsencrypt not found"});
    let a = assess(Some(&c));
    assert_eq!(a.health, Health::Degraded);
    assert_eq!(a.reason.as_deref(), Some("DoesNotExist"));
    assert_eq!(a.message.as_deref(), Some("Issuer letsencrypt not found"));
    c["status"]["conditions"][0] = json!({"type": "Ready", "status": "Unknown"});
    assert_eq!(health(&c), Health::Progressing);
    c["status"]["conditions"] = json!([{"type": "Available", "status": "False"}]);
    assert_eq!(reason(&c).as_deref(), Some("NotAvailable"));
    c["status"] = json!({});
    assert_eq!(health(&c), Health::Healthy, "no convention followed");
    // A core kind with a Ready=False condition is not a custom resource.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    assert_eq!(health(&cm), Health::Healthy);
}

#[test]
fn a_kind_named_like_a_builtin_in_another_group_is_a_custom_resource() {
    let d = json!({"apiVersion": "example.com/v1", "kind": "Deployment",
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(health(&d), Health::Healthy);
}

#[test]
fn missing_and_plain_kinds() {
    assert_eq!(object_health(None), Health::Missing);
    assert_eq!(health(&json!({"kind": "Service"})), Health::Healthy);
    assert_eq!(
        health(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
        Health::Healthy
    );
}

#[test]
fn app_health_is_the_worst() {
    assert_eq!(
        worst([Health::Healthy, Health::Progressing]),
        Health::Progressing
    );
    assert_eq!(worst([Health::Missing, Health::Degraded]), Health::Degraded);
    assert_eq!(
        worst([Health::Healthy, Health::Suspended]),
        Health::Suspended
    );
    assert_eq!(
        worst([Health::Suspended, Health::Progressing]),
        Health::Progressing
    );
    assert_eq!(worst([]), Health::Healthy);
}
