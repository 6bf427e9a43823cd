//! Tenants (`tid`) never see each other's actions or machine state on one server.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn two_tenants_on_one_server_do_not_see_each_others_actions_or_state() {
    let app = spawn_app().await;
    let (a, b) = (fresh_tenant(), fresh_tenant());
    let (ta, tb) = (app.tenant_token(&a), app.tenant_token(&b));
    let id = machine_id("fin-lt-0142");
    let created: serde_json::Value = app
        .act(&ta, &id, "isolate", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let aid = created["id"].as_str().unwrap();
    // B can isolate the same machine: no duplicate across tenants.
    assert_eq!(app.act(&tb, &id, "isolate", json!({})).await.status(), 201);
    // B cannot read A's action.
    assert_error(
        app.get(&format!("/api/machineactions/{aid}"), &tb).await,
        404,
        "ResourceNotFound",
    )
    .await;
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
    assert_eq!(app.act(&t, &id, "isolate", json!({})).await.status(), 201);
    let r = app
        .client
        .post(format!("{}/_mock/reset?tenant={tenant}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.act(&t, &id, "isolate", json!({})).await.status(), 201);
}
