//! The delivery scenarios, each run twice: `memory_*` against
//! ferry-delivery's in-memory target (both regions), `kube_*` with both
//! regions on real Kubernetes API servers through ferry-kube (one cluster
//! per region, started per test: scenarios share nothing). The scenarios
//! are written once ([`promotion`], [`lifecycle`]) over a [`world::World`]
//! that gives each region a target and reads back what runs there.
//!
//! Controllers on Kubernetes: an API server alone stores objects but runs
//! none, so a Deployment there never becomes Available (its environment
//! stays Progressing) and a deleted Namespace stays Terminating. Most
//! scenarios need neither; the `requiresHealthyIn` gate needs dev Healthy
//! and the feature branch's removal needs its Namespace really gone, so
//! those two give uk controllers and a kwok node.

mod backends;
mod lifecycle;
mod promotion;
mod registries;
mod world;

use backends::{Nodes, kube, memory};
use world::Gate;

/// dev → uk and master → shanghai, gated on the image being in the
/// region's registry (replication); apply only, no health needed.
#[tokio::test]
async fn memory_dev_to_uk_and_master_to_shanghai_after_replication() {
    promotion::dev_to_uk_and_master_to_shanghai_after_replication(memory(Gate::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_dev_to_uk_and_master_to_shanghai_after_replication() {
    let w = kube(Gate::None, Nodes::None).await;
    promotion::dev_to_uk_and_master_to_shanghai_after_replication(w).await;
}

/// `requiresHealthyIn: dev`: needs dev Healthy, so on Kubernetes uk runs
/// controllers and a kwok node (its Deployment becomes Available).
#[tokio::test]
async fn memory_prod_waits_until_healthy_in_dev() {
    promotion::prod_waits_until_healthy_in_dev(memory(Gate::HealthyInDev)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_prod_waits_until_healthy_in_dev() {
    let w = kube(Gate::HealthyInDev, Nodes::Kwok).await;
    promotion::prod_waits_until_healthy_in_dev(w).await;
}

/// `manualApproval`: no health needed.
#[tokio::test]
async fn memory_manual_approval_gates_prod() {
    promotion::manual_approval_gates_prod(memory(Gate::ManualApproval)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_manual_approval_gates_prod() {
    let w = kube(Gate::ManualApproval, Nodes::None).await;
    promotion::manual_approval_gates_prod(w).await;
}

/// Rollback and its pin: what is applied, no health needed.
#[tokio::test]
async fn memory_rollback_pins_an_earlier_revision() {
    lifecycle::rollback_pins_an_earlier_revision(memory(Gate::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rollback_pins_an_earlier_revision() {
    let w = kube(Gate::None, Nodes::None).await;
    lifecycle::rollback_pins_an_earlier_revision(w).await;
}

/// Prune: what exists, no health needed.
#[tokio::test]
async fn memory_prune_deletes_only_what_left_git() {
    lifecycle::prune_deletes_only_what_left_git(memory(Gate::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_prune_deletes_only_what_left_git() {
    let w = kube(Gate::None, Nodes::None).await;
    lifecycle::prune_deletes_only_what_left_git(w).await;
}

/// A bad commit: the synced revision and what runs, no health needed.
#[tokio::test]
async fn memory_bad_commit_leaves_the_last_good_revision_running() {
    lifecycle::bad_commit_leaves_the_last_good_revision_running(memory(Gate::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_bad_commit_leaves_the_last_good_revision_running() {
    let w = kube(Gate::None, Nodes::None).await;
    lifecycle::bad_commit_leaves_the_last_good_revision_running(w).await;
}

/// A feature branch's environment: created, then removed — its Namespace
/// gone, which needs the namespace controller: uk runs controllers.
#[tokio::test]
async fn memory_feature_branch_environment_created_and_removed() {
    lifecycle::feature_branch_environment_created_and_removed(memory(Gate::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_feature_branch_environment_created_and_removed() {
    let w = kube(Gate::None, Nodes::Kwok).await;
    lifecycle::feature_branch_environment_created_and_removed(w).await;
}
