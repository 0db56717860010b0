//! The mesh path: connections a pod makes to a Service address, handed to
//! the gateway's `MeshHandler` as the runtime does, get the same rules
//! (VirtualServices with no gateways, or bound to `mesh`). Endpoints are
//! host addresses here; the runtime's own tests cover network namespaces.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_calls_get_the_seed_abort_and_subset_rules() {
    let app = Backend::start("app").await;
    let (v1, v2, _v3) = (
        Backend::start("v1").await,
        Backend::start("v2").await,
        Backend::start("v3").await,
    );
    let snap = snapshot(vec![
        service("myhero", "myhero-app", vec![app.endpoint("app-1")]),
        service(
            "myhero",
            "myhero-ui",
            vec![v1.endpoint("ui-v1"), v2.endpoint("ui-v2")],
        ),
    ]);
    // No gateways: mesh only. The seed's HTTP abort on myhero-app, and
    // header routing on myhero-ui.
    let yaml = format!(
        "{UI_DESTINATION_RULE}---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {{name: myhero-app}}\nspec:\n  hosts: [myhero-app]\n  http:\n  - fault:\n      abort: {{percent: 100, httpStatus: 500}}\n    route:\n    - destination: {{host: myhero-app}}\n---\napiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {{name: myhero-ui}}\nspec:\n  hosts: [myhero-ui.myhero.svc.cluster.local]\n  gateways: [mesh]\n  http:\n  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]\n    route: [{{destination: {{host: myhero-ui, subset: v2}}}}]\n  - match: [{{sourceLabels: {{tier: canary}}}}]\n    route: [{{destination: {{host: myhero-ui, subset: v2}}}}]\n  - route: [{{destination: {{host: myhero-ui, subset: v1}}}}]\n"
    );
    let gw = gateway(snap, &yaml).await;
    let app_addr = service_address(&gw.gateway, "myhero-app", &[("tier", "ui")]).await;
    let ui_addr = service_address(&gw.gateway, "myhero-ui", &[("tier", "ui")]).await;
    let canary_addr = service_address(&gw.gateway, "myhero-ui", &[("tier", "canary")]).await;
    let c = client();
    for _ in 0..10 {
        assert_eq!(
            get(&c, app_addr, "myhero-app", "/options", &[]).await.0,
            500,
            "every caller sees the abort"
        );
        assert_eq!(get(&c, ui_addr, "myhero-ui", "/", &[]).await.1, "v1");
        assert_eq!(
            get(&c, ui_addr, "myhero-ui", "/", &[("end-user", "jason")])
                .await
                .1,
            "v2"
        );
        assert_eq!(
            get(&c, canary_addr, "myhero-ui", "/", &[]).await.1,
            "v2",
            "sourceLabels match the calling pod"
        );
    }
    assert_eq!(app.count(), 0);
    // The north-south listener does not serve mesh-only rules.
    assert_eq!(get(&c, gw.addr, "myhero-app", "/", &[]).await.0, 404);

    // A Service without rules is forwarded as is.
    gw.gateway.apply(objects(UI_DESTINATION_RULE)).unwrap();
    assert_eq!(
        get(&c, app_addr, "myhero-app", "/options", &[]).await,
        (200, "app".into())
    );
    let rows = ferry_gateway::routes::rows(&gw.gateway.table());
    assert!(rows.iter().all(|r| r.direction != "mesh"), "{rows:?}");
}
