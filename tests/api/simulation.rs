//! Device simulation: each outcome through the lifecycle on a frozen clock, offline devices timing
//! out after three days, and the control plane changing a device's behaviour.

use serde_json::{json, Value};
use time::Duration;

use time::format_description::well_known::Rfc3339;

use crate::helpers::*;

fn at(v: &Value, key: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(v[key].as_str().unwrap(), &Rfc3339).unwrap()
}

/// Polls `created`'s action and asserts it ended `status` exactly `after` its creation.
async fn assert_ended(app: &TestApp, token: &str, created: &Value, status: &str, after: Duration) {
    let polled = app.action(token, created["id"].as_str().unwrap()).await;
    assert_eq!(polled["status"], status);
    assert_eq!(
        at(&polled, "lastUpdateDateTimeUtc") - at(created, "creationDateTimeUtc"),
        after
    );
}

fn sim_patch(name: &str, body: &Value) -> Req {
    Req::patch(format!("/_mock/machines/{}/simulation", machine_id(name))).json(body)
}

async fn patch_sim(app: &TestApp, name: &str, body: Value) -> Value {
    let r = app.send(sim_patch(name, &body)).await;
    assert_eq!(r.status(), 200);
    r.json()
}

#[tokio::test]
async fn a_failing_device_ends_failed_and_changes_nothing() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("sales-lt-0415");
    let a: Value = app.isolate(&t, &id).await.json();
    app.advance(3600.0).await;
    assert_ended(&app, &t, &a, "Failed", Duration::seconds(60)).await;
    assert_eq!(app.machine_view(&id, None).await["isolated"], false);
}

#[tokio::test]
async fn a_slow_device_follows_its_own_delays() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let a: Value = app.isolate(&t, &machine_id("sales-lt-0420")).await.json();
    let aid = a["id"].as_str().unwrap();
    app.advance(299.0).await;
    assert_eq!(app.action(&t, aid).await["status"], "Pending");
    app.advance(1.0).await;
    assert_eq!(app.action(&t, aid).await["status"], "InProgress");
    app.advance(600.0).await;
    assert_ended(&app, &t, &a, "Succeeded", Duration::seconds(900)).await;
}

#[tokio::test]
async fn a_stuck_device_leaves_actions_pending_until_cancelled() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let a: Value = app.isolate(&t, &machine_id("design-mbp-0019")).await.json();
    app.advance(20.0 * 86_400.0).await;
    let polled = app.action(&t, a["id"].as_str().unwrap()).await;
    assert_eq!(polled["status"], "Pending");
    assert_eq!(polled["lastUpdateDateTimeUtc"], a["lastUpdateDateTimeUtc"]);
    let r = app
        .post_json(
            &format!("/api/machineactions/{}/cancel", a["id"].as_str().unwrap()),
            &t,
            &json!({"Comment": "stuck"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>()["status"], "Cancelled");
    assert_eq!(
        app.isolate(&t, &machine_id("design-mbp-0019"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn an_offline_device_times_out_after_three_days_of_emulator_time() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let a: Value = app.isolate(&t, &machine_id("sales-lt-0402")).await.json();
    let aid = a["id"].as_str().unwrap();
    app.advance(3.0 * 86_400.0 - 1.0).await;
    assert_eq!(app.action(&t, aid).await["status"], "Pending");
    app.advance(1.0).await;
    assert_ended(&app, &t, &a, "TimeOut", Duration::days(3)).await;
}

#[tokio::test]
async fn a_device_brought_online_picks_up_its_pending_actions() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("sales-lt-0402");
    let a: Value = app.isolate(&t, &id).await.json();
    app.advance(3600.0).await;
    let view = patch_sim(&app, "sales-lt-0402", json!({"online": true})).await;
    assert_eq!(view["simulation"]["online"], true);
    app.advance(60.0).await;
    assert_ended(&app, &t, &a, "Succeeded", Duration::seconds(3660)).await;
    assert_eq!(app.machine_view(&id, None).await["isolated"], true);
}

#[tokio::test]
async fn next_outcome_applies_to_one_action_only() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    patch_sim(&app, "fin-lt-0142", json!({"nextOutcome": "TimeOut"})).await;
    let a: Value = app.isolate(&t, &id).await.json();
    app.advance(60.0).await;
    assert_eq!(
        app.action(&t, a["id"].as_str().unwrap()).await["status"],
        "TimeOut"
    );
    let b: Value = app.isolate(&t, &id).await.json();
    app.advance(60.0).await;
    assert_eq!(
        app.action(&t, b["id"].as_str().unwrap()).await["status"],
        "Succeeded"
    );
}

#[tokio::test]
async fn simulation_changes_are_validated() {
    let app = spawn_app().await;
    for body in [
        json!({"outcome": "Maybe"}),
        json!({"onlne": true}),
        json!({"nextOutcome": 3}),
    ] {
        let r = app.send(sim_patch("dc01", &body)).await;
        assert_error(r, 400, "InvalidInput");
    }
}
