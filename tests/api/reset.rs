//! `POST /_mock/reset` puts back every piece: machines (seeded and removed), actions, throttle
//! counters, rate-limit and duplicate-policy overrides, and with `clock=true` the clock; for one
//! tenant without touching the others.

use defender_mock::TokenSpec;
use serde_json::{json, Value};

use crate::helpers::*;

const NEW_ID: &str = "00112233445566778899aabbccddeeff00112233";

fn token_for(app: &TestApp, tenant: &str) -> String {
    app.token_with(TokenSpec {
        tenant: tenant.to_owned(),
        roles: vec!["Machine.Isolate".into(), "Machine.Read.All".into()],
        ttl_secs: 30 * 86_400,
        ..TokenSpec::default()
    })
}

async fn status(app: &TestApp, req: Req) -> u16 {
    let r = app.send(req).await;
    r.status().as_u16()
}

/// Changes every piece of `tenant`'s state; returns an action id.
async fn dirty(app: &TestApp, tenant: &str, t: &str) -> String {
    let seeded = json!({
        "computerDnsName": "seed-ws-0001.contoso.com",
        "firstSeen": "2025-01-01T00:00:00Z",
        "lastSeen": "2026-11-01T00:00:00Z",
        "osPlatform": "Windows11",
    });
    let put = Req::put(format!("/_mock/machines/{NEW_ID}?tenant={tenant}")).json(&seeded);
    assert_eq!(status(app, put).await, 201);
    let gone = machine_id("fin-lt-0187");
    let del = Req::new(
        axum::http::Method::DELETE,
        format!("/_mock/machines/{gone}?tenant={tenant}"),
    );
    assert_eq!(status(app, del).await, 204);
    let policy = Req::put(format!("/_mock/tenants/{tenant}/duplicate-policy"))
        .json(&json!({"policy": "allow"}));
    assert_eq!(status(app, policy).await, 200);
    let limits = Req::put(format!("/_mock/tenants/{tenant}/rate-limits"))
        .json(&json!({"mode": "documented", "perMinute": 2}));
    assert_eq!(status(app, limits).await, 200);
    let id = machine_id("fin-lt-0142");
    let a: Value = app.isolate(t, &id).await.json();
    assert_eq!(
        app.isolate(t, &id).await.status(),
        201,
        "allow: a second one"
    );
    assert_eq!(app.isolate(t, &id).await.status(), 429, "2 a minute");
    a["id"].as_str().unwrap().to_owned()
}

async fn assert_fresh(app: &TestApp, tenant: &str, t: &str, action: &str) {
    assert_error(app.get_machine(t, NEW_ID).await, 404, "ResourceNotFound");
    assert_eq!(
        app.get_machine(t, &machine_id("fin-lt-0187"))
            .await
            .status(),
        200
    );
    assert_error(
        app.get(&format!("/api/machineactions/{action}"), t).await,
        404,
        "ResourceNotFound",
    );
    let limits = app
        .mock_get(&format!("/_mock/tenants/{tenant}/rate-limits"))
        .await;
    assert_eq!(limits["perMinute"], Value::Null, "{limits}");
    // No counter left (a 429 would say so), and the policy is `reject` again.
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.isolate(t, &id).await.status(), 201);
    assert_error(app.isolate(t, &id).await, 400, "ActiveRequestAlreadyExists");
}

#[tokio::test]
async fn reset_of_one_tenant_restores_every_piece_and_leaves_the_others() {
    let app = spawn_app().await;
    let (a, b) = (fresh_tenant(), fresh_tenant());
    let (ta, tb) = (token_for(&app, &a), token_for(&app, &b));
    let action_a = dirty(&app, &a, &ta).await;
    let action_b = dirty(&app, &b, &tb).await;
    assert_eq!(
        status(&app, Req::post(format!("/_mock/reset?tenant={a}"))).await,
        204
    );
    assert_fresh(&app, &a, &ta, &action_a).await;
    // B untouched: its seeded machine, its action, its override.
    assert_eq!(app.get_machine(&tb, NEW_ID).await.status(), 200);
    assert_eq!(
        app.get(&format!("/api/machineactions/{action_b}"), &tb)
            .await
            .status(),
        200
    );
    let limits = app
        .mock_get(&format!("/_mock/tenants/{b}/rate-limits"))
        .await;
    assert_eq!(limits["perMinute"], 2);
}

#[tokio::test]
async fn reset_of_all_restores_every_tenant_and_the_clock_only_when_asked() {
    let app = spawn_app().await;
    let (a, b) = (fresh_tenant(), fresh_tenant());
    let (ta, tb) = (token_for(&app, &a), token_for(&app, &b));
    let action_a = dirty(&app, &a, &ta).await;
    let action_b = dirty(&app, &b, &tb).await;
    let start = app.mock_get("/_mock/clock").await["now"].clone();
    app.advance(86_400.0).await;
    assert_eq!(status(&app, Req::post("/_mock/reset")).await, 204);
    let moved = app.mock_get("/_mock/clock").await["now"].clone();
    assert_ne!(moved, start, "no clock=true: the clock stays");
    assert_fresh(&app, &a, &ta, &action_a).await;
    assert_fresh(&app, &b, &tb, &action_b).await;
    assert_eq!(
        status(&app, Req::post("/_mock/reset?clock=true")).await,
        204
    );
    let clock = app.mock_get("/_mock/clock").await;
    let now = time::OffsetDateTime::parse(
        clock["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wall = time::OffsetDateTime::now_utc();
    assert!(
        (now - wall).abs() < time::Duration::minutes(5),
        "{now} vs {wall}"
    );
    assert_eq!(clock["mode"], "frozen", "back to the mode it started in");
    assert_eq!(
        status(&app, Req::post("/_mock/reset?clock=maybe")).await,
        400
    );
}

#[tokio::test]
async fn freeze_and_unfreeze_switch_the_clock_mode_at_runtime() {
    let app = spawn_app().await;
    let r = app.send(Req::post("/_mock/clock/unfreeze")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json();
    assert_eq!(v["mode"], "system");
    // Running: wall time passes between two reads (100 ns ticks).
    let later = app.mock_get("/_mock/clock").await;
    assert_ne!(later["now"], v["now"]);
    let r = app.send(Req::post("/_mock/clock/freeze")).await;
    let frozen: Value = r.json();
    assert_eq!(frozen["mode"], "frozen");
    assert_eq!(app.mock_get("/_mock/clock").await["now"], frozen["now"]);
    // An advance still moves a frozen clock.
    app.advance(3600.0).await;
    assert_ne!(app.mock_get("/_mock/clock").await["now"], frozen["now"]);
}

/// The rest of a tenant's state: alerts raised or updated, indicators, investigations, its
/// journal entries and the fault rules meant for it; a reset of one tenant leaves another's.
#[tokio::test]
async fn reset_forgets_alerts_indicators_investigations_journal_and_faults() {
    let app = spawn_app().await;
    let (tenant, other) = (fresh_tenant(), fresh_tenant());
    let admin = |t: &str| {
        let roles = [
            "Machine.Read.All",
            "Alert.ReadWrite.All",
            "Ti.ReadWrite.All",
        ];
        app.token_with(TokenSpec {
            tenant: t.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ttl_secs: 30 * 86_400,
            ..TokenSpec::default()
        })
    };
    for t in [&tenant, &other] {
        let r = app
            .send(Req::post(format!("/_mock/alerts?tenant={t}")).json(&json!({
                "machineId": "exec-lt-0001", "title": "raised for the reset test"
            })))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text());
        let r = app
            .post_json(
                "/api/indicators",
                &admin(t),
                &json!({"indicatorValue": "evil.example", "indicatorType": "DomainName",
                        "action": "Block", "title": "t", "description": "d"}),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        let r = app
            .post_json(
                &format!(
                    "/api/machines/{}/startInvestigation",
                    machine_id("exec-lt-0001")
                ),
                &admin(t),
                &json!({"Comment": "reset test"}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text());
        let r = app
            .send(Req::post("/_mock/faults").json(&json!({
                "match": {"tenant": t, "route": "/api/alerts"},
                "action": {"kind": "error", "status": 503}
            })))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text());
    }
    let counts = |t: String| {
        let (app, tok) = (&app, admin(&t));
        async move {
            let raised = app.get("/api/alerts?$top=10000", &tok).await;
            let raised = match raised.status().as_u16() {
                503 => None,
                200 => Some(
                    raised.json::<Value>()["value"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|a| a["title"] == "raised for the reset test")
                        .count(),
                ),
                s => panic!("{s}: {}", raised.text()),
            };
            let indicators = app.get("/api/indicators", &tok).await.json::<Value>()["value"]
                .as_array()
                .unwrap()
                .len();
            let investigations = app.get("/api/investigations", &tok).await.json::<Value>()
                ["value"]
                .as_array()
                .unwrap()
                .len();
            let journal = app
                .mock_get(&format!(
                    "/_mock/requests/count?tenant={t}&path=/api/indicators"
                ))
                .await["count"]
                .as_u64()
                .unwrap();
            (raised, indicators, investigations, journal)
        }
    };
    // Before: the fault answers the alert list with 503; one indicator, one investigation.
    assert_eq!(counts(tenant.clone()).await, (None, 1, 1, 2));
    let r = app
        .send(Req::post(format!("/_mock/reset?tenant={tenant}")))
        .await;
    assert_eq!(r.status(), 204);
    // After: no fault, the raised alert gone, nothing else; the journal starts again.
    assert_eq!(counts(tenant.clone()).await, (Some(0), 0, 0, 1));
    // The other tenant keeps everything, its fault rule included.
    assert_eq!(counts(other.clone()).await, (None, 1, 1, 2));
}
