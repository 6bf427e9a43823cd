//! Tenants (`tid`) never see each other's actions or machine state on one server.

use crate::helpers::*;

#[tokio::test]
async fn two_tenants_on_one_server_do_not_see_each_others_actions_or_state() {
    let app = spawn_app().await;
    let (a, b) = (fresh_tenant(), fresh_tenant());
    let (ta, tb) = (app.tenant_token(&a), app.tenant_token(&b));
    let id = machine_id("fin-lt-0142");
    let created: serde_json::Value = app.isolate(&ta, &id).await.json();
    let aid = created["id"].as_str().unwrap();
    // B can isolate the same machine: no duplicate across tenants.
    assert_eq!(app.isolate(&tb, &id).await.status(), 201);
    // B cannot read A's action.
    assert_error(
        app.get(&format!("/api/machineactions/{aid}"), &tb).await,
        404,
        "ResourceNotFound",
    );
    assert_eq!(
        app.get(&format!("/api/machineactions/{aid}"), &ta)
            .await
            .status(),
        200
    );
    app.advance(60.0).await;
    assert_eq!(app.machine_view(&id, Some(&a)).await["isolated"], true);
    let c = fresh_tenant();
    assert_eq!(app.machine_view(&id, Some(&c)).await["isolated"], false);
}

#[tokio::test]
async fn reset_gives_a_tenant_a_fresh_fleet() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let t = app.tenant_token(&tenant);
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
    let r = app
        .send(Req::post(format!("/_mock/reset?tenant={tenant}")))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
}
