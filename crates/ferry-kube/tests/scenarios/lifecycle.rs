//! The scenarios of one environment's life (dev in uk): rollback to an
//! earlier revision and back, prune of what left git (and only that), a
//! bad commit leaving the last good revision running, and a feature
//! branch's environment created and removed with the branch.

use ferry_delivery::history::Outcome;
use serde_json::json;

use crate::world::{Region::*, World, deployment};

/// Deploys the first commit to dev and waits for it.
async fn first_in_dev(w: &World) -> String {
    let c1 = w.first.clone();
    w.push(Uk, "dev", &c1);
    let image = World::reference(Uk, "dev", &c1);
    w.settle("the first commit in dev", async || {
        w.image(Uk, "dev").await.as_ref() == Some(&image)
    })
    .await;
    c1
}

/// Commits a new image and 2 replicas on dev, builds it, waits for it.
async fn second_in_dev(w: &World) -> String {
    let files = [("data/VERSION", "2\n"), ("k8s/data.yaml", &deployment(2))];
    let c2 = w.commit_on("dev", &files, "two");
    w.push(Uk, "dev", &c2);
    let image = World::reference(Uk, "dev", &c2);
    w.settle("the second commit in dev", async || {
        w.image(Uk, "dev").await.as_ref() == Some(&image)
    })
    .await;
    c2
}

/// `ferry app rollback` pins dev to the first revision (its image and
/// replicas come back, also across passes); `ferry app sync` lifts the pin.
pub async fn rollback_pins_an_earlier_revision(w: World) {
    let c1 = first_in_dev(&w).await;
    let c2 = second_in_dev(&w).await;
    assert_eq!(w.replicas(Uk, "dev").await, Some(2));

    let entry = w
        .engine
        .rollback("myhero", Some("dev"), Some(&c1[..8]))
        .unwrap();
    assert_eq!(entry.revision, c1);
    let first = World::reference(Uk, "dev", &c1);
    w.settle("the rollback to the first commit", async || {
        w.image(Uk, "dev").await.as_ref() == Some(&first)
    })
    .await;
    assert_eq!(w.replicas(Uk, "dev").await, Some(1));
    let history = w.engine.history("myhero").unwrap();
    assert_eq!(history.last().unwrap().trigger, "rollback", "{history:#?}");
    // Still pinned after more passes, although dev's branch is at c2.
    w.pass().await;
    w.pass().await;
    assert_eq!(w.image(Uk, "dev").await.as_ref(), Some(&first));

    w.engine.sync_now("myhero", Some("dev")).unwrap();
    let second = World::reference(Uk, "dev", &c2);
    w.settle("the pin lifted", async || {
        w.image(Uk, "dev").await.as_ref() == Some(&second)
    })
    .await;
    assert_eq!(w.replicas(Uk, "dev").await, Some(2));
}

/// A Service removed from git is deleted; an object ferry did not apply —
/// even one labelled like ferry's — is left alone.
pub async fn prune_deletes_only_what_left_git(w: World) {
    first_in_dev(&w).await;
    assert!(w.exists(Uk, "Service", Some("dev"), "data").await);
    let theirs = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "theirs", "namespace": "dev",
            "labels": {"app.ferry.dev/name": "myhero", "app.ferry.dev/environment": "dev"}},
        "spec": {"ports": [{"port": 81}]}});
    w.create_foreign(Uk, theirs).await;

    w.commit_on("dev", &[("k8s/svc.yaml", "")], "drop the service");
    w.settle("the Service pruned", async || {
        !w.exists(Uk, "Service", Some("dev"), "data").await
    })
    .await;
    w.pass().await;
    assert!(
        w.exists(Uk, "Service", Some("dev"), "theirs").await,
        "an object ferry did not apply was deleted"
    );
    assert!(w.exists(Uk, "Deployment", Some("dev"), "data").await);
}

/// A commit that does not render fails naming file, document and field;
/// the previous revision keeps running and stays the synced one.
pub async fn bad_commit_leaves_the_last_good_revision_running(w: World) {
    first_in_dev(&w).await;
    let c2 = second_in_dev(&w).await;
    let bad_yaml =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: data}\nspec:\n  replicas: many\n";
    let bad = w.commit_on("dev", &[("k8s/data.yaml", bad_yaml)], "bad");
    w.settle("the bad commit reported", async || {
        w.env("dev").is_some_and(|e| e.error.is_some())
    })
    .await;
    let env = w.env("dev").unwrap();
    let error = env.error.clone().unwrap();
    assert!(
        error.contains("k8s/data.yaml@")
            && error.contains("document 0")
            && error.contains("spec.replicas"),
        "{error}"
    );
    assert_eq!(env.synced_revision.as_deref(), Some(c2.as_str()));
    assert_eq!(env.desired_revision.as_deref(), Some(bad.as_str()));
    w.pass().await;
    let second = World::reference(Uk, "dev", &c2);
    assert_eq!(w.image(Uk, "dev").await.as_ref(), Some(&second));
    assert_eq!(w.replicas(Uk, "dev").await, Some(2));
    assert!(w.exists(Uk, "Service", Some("dev"), "data").await);
    let history = w.engine.history("myhero").unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.revision == bad && h.outcome == Outcome::Failed),
        "{history:#?}"
    );
}

/// A `feature/*` branch gets namespace `myhero-feature-login` in uk with
/// its own image; deleting the branch removes the environment.
pub async fn feature_branch_environment_created_and_removed(w: World) {
    let ns = "myhero-feature-login";
    w.git(&["branch", "feature/login"]);
    let sha = w.git(&["rev-parse", "feature/login"]);
    w.push(Uk, "feat", &sha);
    let image = World::reference(Uk, "feat", &sha);
    w.settle("the feature environment", async || {
        w.image(Uk, ns).await.as_ref() == Some(&image)
    })
    .await;
    assert!(w.exists(Uk, "Namespace", None, ns).await);
    assert!(w.exists(Uk, "Service", Some(ns), "data").await);
    assert!(!w.exists(Shanghai, "Namespace", None, ns).await);
    assert!(w.env(ns).is_some_and(|e| e.ephemeral));

    w.git(&["branch", "-D", "feature/login"]);
    w.settle("the feature environment removed", async || {
        !w.exists(Uk, "Namespace", None, ns).await
            && !w.exists(Uk, "Deployment", Some(ns), "data").await
            && !w.exists(Uk, "Service", Some(ns), "data").await
    })
    .await;
    assert!(w.env(ns).is_none(), "still reported: {:#?}", w.env(ns));
}
