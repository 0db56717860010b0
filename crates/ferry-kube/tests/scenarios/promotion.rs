//! The promotion scenarios: dev → uk and master → shanghai, each deploying
//! only images present in its region's own registry (shanghai's arrive by
//! replication), and the gates on the way to prod — health in dev and
//! manual approval.

use ferry_delivery::health::Health;
use ferry_delivery::pipeline::StepState;

use crate::world::{Region::*, World};

/// dev → uk once its image is built there; master → shanghai only once
/// replication brought the image into shanghai's registry, the run showing
/// the replication step.
pub async fn dev_to_uk_and_master_to_shanghai_after_replication(w: World) {
    let c1 = w.first.clone();
    w.pass().await;
    // Nothing built yet: neither region deploys.
    let why = w.waiting("dev");
    assert!(
        why.contains(&format!("myhero/data:dev-{}", &c1[..7])),
        "{why}"
    );
    assert_eq!(w.image(Uk, "dev").await, None);
    assert_eq!(w.image(Shanghai, "prod").await, None);

    // Built and pushed in uk: dev deploys from uk's registry; prod's image
    // is in uk but not in shanghai yet, so shanghai gets nothing.
    w.push(Uk, "dev", &c1);
    w.push(Uk, "prod", &c1);
    let dev_image = World::reference(Uk, "dev", &c1);
    w.settle("dev deployed in uk", async || {
        w.image(Uk, "dev").await.as_ref() == Some(&dev_image)
    })
    .await;
    w.pass().await;
    assert!(w.waiting("prod").contains("not in region `shanghai`"));
    assert_eq!(w.image(Shanghai, "prod").await, None);
    assert!(!w.exists(Shanghai, "Namespace", None, "prod").await);
    assert_eq!(w.image(Uk, "prod").await, None, "prod never lands in uk");

    // Replicated: shanghai deploys from its own registry.
    w.push(Shanghai, "prod", &c1);
    let prod_image = World::reference(Shanghai, "prod", &c1);
    w.settle("prod deployed in shanghai", async || {
        w.image(Shanghai, "prod").await.as_ref() == Some(&prod_image)
    })
    .await;
    assert_eq!(w.image(Uk, "dev").await.as_ref(), Some(&dev_image));
    assert_eq!(
        w.image(Shanghai, "dev").await,
        None,
        "dev never lands in shanghai"
    );
    let runs = w.engine.runs();
    let prod_tag = format!("prod-{}", &c1[..7]);
    let prod = runs
        .iter()
        .find(|r| r.git_ref == "master" && r.image_tag == prod_tag);
    let prod = prod.unwrap_or_else(|| panic!("{runs:#?}"));
    let step = prod
        .steps
        .iter()
        .find(|s| s.name == "replicate to shanghai");
    let step = step.unwrap_or_else(|| panic!("{prod:#?}"));
    assert_eq!(step.state, StepState::Succeeded);
    let dev = runs.iter().find(|r| r.git_ref == "dev").unwrap();
    assert!(
        dev.steps.iter().all(|s| !s.name.starts_with("replicate")),
        "{dev:#?}"
    );
}

/// `requiresHealthyIn: dev`: prod waits until the same commit is synced
/// and Healthy in dev, although its image is already in shanghai.
pub async fn prod_waits_until_healthy_in_dev(w: World) {
    let c1 = w.first.clone();
    w.push(Uk, "dev", &c1);
    w.push(Shanghai, "prod", &c1);
    w.pass().await;
    // The pass synced dev; its health is not known to be Healthy yet.
    assert!(w.image(Uk, "dev").await.is_some());
    let why = w.waiting("prod");
    assert!(why.contains("healthy in `dev`"), "{why}");
    assert_eq!(w.image(Shanghai, "prod").await, None);

    let prod_image = World::reference(Shanghai, "prod", &c1);
    w.settle("prod deployed once dev is healthy", async || {
        w.image(Shanghai, "prod").await.as_ref() == Some(&prod_image)
    })
    .await;
    let dev = w.env("dev").unwrap();
    assert_eq!(dev.health, Health::Healthy, "{dev:#?}");
    assert_eq!(dev.synced_revision.as_deref(), Some(c1.as_str()));
}

/// `manualApproval`: prod waits for `ferry app promote` with its image in
/// shanghai, then deploys the approved commit.
pub async fn manual_approval_gates_prod(w: World) {
    let c1 = w.first.clone();
    w.push(Shanghai, "prod", &c1);
    w.pass().await;
    w.pass().await;
    let why = w.waiting("prod");
    assert!(why.contains("ferry app promote"), "{why}");
    assert_eq!(w.image(Shanghai, "prod").await, None);

    let approved = w.engine.promote("myhero", Some("prod")).unwrap();
    assert_eq!(approved, [("prod".to_string(), c1.clone())]);
    let prod_image = World::reference(Shanghai, "prod", &c1);
    w.settle("the approved commit deployed", async || {
        w.image(Shanghai, "prod").await.as_ref() == Some(&prod_image)
    })
    .await;
    let prod = w.env("prod").unwrap();
    assert_eq!(prod.synced_revision.as_deref(), Some(c1.as_str()));
}
