//! Seeding through the control plane: `PUT`/`DELETE /_mock/machines/{id}`, `POST /_mock/machines`
//! and `POST /_mock/fleet/generate`, each per tenant, with the fixture loader's validation.

use axum::http::Method;
use defender_mock::Fleet;
use serde_json::{json, Value};

use crate::helpers::*;

const NEW_ID: &str = "00112233445566778899aabbccddeeff00112233";
const AAD: &str = "7c0e5f2a-1b3d-4c5e-8f90-a1b2c3d4e5f6";

fn new_machine() -> Value {
    json!({
        "computerDnsName": "seed-ws-0001.contoso.com",
        "firstSeen": "2025-01-01T00:00:00Z",
        "lastSeen": "2026-11-01T00:00:00Z",
        "osPlatform": "Windows11",
        "version": "23H2",
        "osBuild": 22631,
        "aadDeviceId": AAD,
        "rbacGroupName": "Finance",
        "healthStatus": "Active",
        "onboardingStatus": "Onboarded",
    })
}

async fn put(app: &TestApp, tenant: &str, id: &str, body: &Value) -> TestResponse {
    app.send(Req::put(format!("/_mock/machines/{id}?tenant={tenant}")).json(body))
        .await
}

async fn delete(app: &TestApp, tenant: &str, id: &str) -> TestResponse {
    app.send(Req::new(
        Method::DELETE,
        format!("/_mock/machines/{id}?tenant={tenant}"),
    ))
    .await
}

#[tokio::test]
async fn a_seeded_machine_is_listed_and_acted_on_by_id_name_and_aad_device_id() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let t = app.tenant_token(&tenant);
    let r = put(&app, &tenant, NEW_ID, &new_machine()).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let created: Value = r.json();
    assert_eq!(created["id"], NEW_ID);
    // Listed in its tenant, read by id, and absent from another tenant.
    let list: Value = app
        .get(
            "/api/machines?$filter=computerDnsName eq 'seed-ws-0001.contoso.com'",
            &t,
        )
        .await
        .json();
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(app.get_machine(&t, NEW_ID).await.status(), 200);
    let other = app.tenant_token(&fresh_tenant());
    assert_error(
        app.get_machine(&other, NEW_ID).await,
        404,
        "ResourceNotFound",
    );
    // Acted on by id, then by name, then by aadDeviceId.
    let a = app
        .act_ok(&t, NEW_ID, "isolate", json!({"IsolationType": "Full"}))
        .await;
    assert_eq!(a["machineId"], NEW_ID);
    app.advance(60.0).await;
    assert_eq!(
        app.machine_view(NEW_ID, Some(&tenant)).await["isolated"],
        true
    );
    let b = app.act_ok(&t, "seed-ws-0001", "unisolate", json!({})).await;
    assert_eq!(b["machineId"], NEW_ID);
    app.advance(60.0).await;
    let c = app
        .act_ok(&t, AAD, "isolate", json!({"IsolationType": "Selective"}))
        .await;
    assert_eq!(c["machineId"], NEW_ID);
    assert_eq!(c["computerDnsName"], "seed-ws-0001.contoso.com");
}

#[tokio::test]
async fn emulator_state_is_set_in_the_body_and_a_replace_keeps_the_machines_actions() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let t = app.tenant_token(&tenant);
    let mut body = new_machine();
    body["isolation"] = json!("Selective");
    body["restricted"] = json!(true);
    body["simulation"] = json!({"online": false});
    assert_eq!(put(&app, &tenant, NEW_ID, &body).await.status(), 201);
    let view = app.machine_view(NEW_ID, Some(&tenant)).await;
    assert_eq!(view["isolationScope"], "Selective");
    assert_eq!(view["appExecutionRestricted"], true);
    assert_eq!(view["simulation"]["online"], false);
    let a = app.act_ok(&t, NEW_ID, "unisolate", json!({})).await;
    // Replaced (200): same key, the action stays and is still in flight on it.
    let mut body = new_machine();
    body["computerDnsName"] = json!("seed-ws-0001-renamed.contoso.com");
    let r = put(&app, &tenant, &NEW_ID.to_uppercase(), &body).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let view = app.machine_view(NEW_ID, Some(&tenant)).await;
    assert_eq!(
        view["machine"]["computerDnsName"],
        "seed-ws-0001-renamed.contoso.com"
    );
    assert_eq!(view["inFlightActions"], json!([a["id"]]));
    assert_eq!(view["isolated"], false, "the new body's emulator state");
    // The old name no longer resolves; the new one does.
    assert_error(
        app.get_machine(&t, "seed-ws-0001").await,
        404,
        "ResourceNotFound",
    );
    assert_eq!(
        app.get_machine(&t, "seed-ws-0001-renamed").await.status(),
        200
    );
}

#[tokio::test]
async fn put_validation_errors_are_the_fixture_loaders_messages() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let cases = [
        ("osBuild", json!("not a number")),
        ("computerDnsName", json!("  ")),
        ("healthStatus", json!("Sleepy")),
        ("simulation", json!({"outcome": "Maybe"})),
        ("isolation", json!("Partial")),
    ];
    for (field, value) in cases {
        let mut body = new_machine();
        body[field] = value;
        body["id"] = json!(NEW_ID);
        // What the fixture loader says about the same entry.
        let loader = Fleet::from_json(&json!([body]).to_string()).unwrap_err();
        let loader = loader.to_string();
        let tail = loader.split_once(": ").unwrap().1.to_owned();
        let r = put(&app, &tenant, NEW_ID, &body).await;
        let err = assert_error(r, 400, "InvalidInput");
        assert_eq!(
            err["error"]["message"].as_str().unwrap(),
            format!("Invalid machine: {tail}"),
            "{field}"
        );
    }
    // A body id that is not the path's.
    let mut body = new_machine();
    body["id"] = json!("ff".repeat(20));
    assert_error_containing(
        put(&app, &tenant, NEW_ID, &body).await,
        400,
        "InvalidInput",
        "not the id in the path",
    );
    assert_error_containing(
        put(&app, &tenant, "xyz", &new_machine()).await,
        400,
        "InvalidInput",
        "40 hex",
    );
    // Nothing was stored by the refused requests.
    let t = app.tenant_token(&tenant);
    assert_error(app.get_machine(&t, NEW_ID).await, 404, "ResourceNotFound");
}

#[tokio::test]
async fn delete_removes_a_machine_then_404_and_its_actions_stay_readable() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let t = app.tenant_token(&tenant);
    let id = machine_id("fin-lt-0142");
    let a = app
        .act_ok(&t, &id, "isolate", json!({"IsolationType": "Full"}))
        .await;
    assert_eq!(delete(&app, &tenant, &id).await.status(), 204);
    assert_error(app.get_machine(&t, &id).await, 404, "ResourceNotFound");
    assert_error(app.isolate(&t, &id).await, 404, "ResourceNotFound");
    assert_error(delete(&app, &tenant, &id).await, 404, "ResourceNotFound");
    let list: Value = app.get("/api/machines", &t).await.json();
    assert!(list["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["id"] != id.as_str()));
    // The action on it is still there and runs to its end.
    app.advance(120.0).await;
    assert_eq!(
        app.action(&t, a["id"].as_str().unwrap()).await["status"],
        "Succeeded"
    );
    // Other tenants still have the fixture machine.
    let other = app.tenant_token(&fresh_tenant());
    assert_eq!(app.get_machine(&other, &id).await.status(), 200);
}

#[tokio::test]
async fn post_adds_many_and_checks_all_before_storing_any() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let t = app.tenant_token(&tenant);
    let mut a = new_machine();
    a["id"] = json!(NEW_ID);
    let mut b = new_machine();
    b["id"] = json!("ab".repeat(20));
    b["computerDnsName"] = json!("seed-ws-0002.contoso.com");
    b["aadDeviceId"] = json!(null);
    let mut bad = b.clone();
    bad["id"] = json!("cd".repeat(20));
    bad["osPlatform"] = json!("");
    let r = app
        .send(Req::post(format!("/_mock/machines?tenant={tenant}")).json(&json!([a, b, bad])))
        .await;
    assert_error_containing(r, 400, "InvalidInput", "machine #2");
    assert_error(app.get_machine(&t, NEW_ID).await, 404, "ResourceNotFound");
    let r = app
        .send(
            Req::post(format!("/_mock/machines?tenant={tenant}"))
                .json(&json!({"machines": [a, b]})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(r.json::<Value>(), json!({"created": 2, "replaced": 0}));
    let r = app
        .send(Req::post(format!("/_mock/machines?tenant={tenant}")).json(&json!([a])))
        .await;
    assert_eq!(r.json::<Value>(), json!({"created": 0, "replaced": 1}));
    let list: Value = app.get("/api/machines", &t).await.json();
    let n = list["value"].as_array().unwrap().len();
    assert_eq!(n, fleet().len() + 2);
}

#[tokio::test]
async fn generate_is_deterministic_per_seed_and_replaces_the_tenants_machines() {
    let app = spawn_app().await;
    let (x, y, z) = (fresh_tenant(), fresh_tenant(), fresh_tenant());
    for (tenant, seed) in [(&x, 7), (&y, 7), (&z, 8)] {
        let r = app
            .send(
                Req::post(format!("/_mock/fleet/generate?tenant={tenant}"))
                    .json(&json!({"count": 40, "seed": seed})),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text());
        assert_eq!(r.json::<Value>(), json!({"machines": 40}));
    }
    let list = |tenant: String| {
        let app = &app;
        async move {
            let t = app.tenant_token(&tenant);
            let r: Value = app.get("/api/machines", &t).await.json();
            r["value"].clone()
        }
    };
    let (lx, ly, lz) = (list(x.clone()).await, list(y).await, list(z).await);
    assert_eq!(lx.as_array().unwrap().len(), 40);
    assert_eq!(lx, ly, "same seed, same fleet");
    assert_ne!(lx, lz, "another seed, another fleet");
    // The fixtures are gone from that tenant; a generated machine takes actions.
    let t = app.tenant_token(&x);
    assert_error(
        app.get_machine(&t, &machine_id("fin-lt-0142")).await,
        404,
        "ResourceNotFound",
    );
    let first = lx[0]["id"].as_str().unwrap();
    assert_eq!(app.unisolate(&t, first).await.status(), 201);
    // Bounds.
    for body in [
        json!({"count": 0}),
        json!({"count": 100_001}),
        json!({"seed": 1}),
        json!({"count": 5, "seed": -1}),
    ] {
        let r = app
            .send(Req::post("/_mock/fleet/generate").json(&body))
            .await;
        assert_eq!(r.status(), 400, "{body}");
    }
}
