//! Actions move Pending → InProgress → Succeeded on the emulator clock, and the machine's state
//! flips only at Succeeded.

use serde_json::{json, Value};

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::helpers::*;

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn isolate_then_unisolate_flips_state_only_at_succeeded() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.machine_view(&id, None).await["isolated"], false);

    let created: Value = app
        .act(&t, &id, "isolate", json!({"IsolationType": "Selective"}))
        .await
        .json();
    let aid = created["id"].as_str().unwrap().to_owned();
    let t0 = ts(&created["creationDateTimeUtc"]);

    app.advance(9.0).await;
    assert_eq!(app.action(&t, &aid).await["status"], "Pending");
    app.advance(1.0).await;
    let a = app.action(&t, &aid).await;
    assert_eq!(a["status"], "InProgress");
    assert_eq!(
        ts(&a["lastUpdateDateTimeUtc"]) - t0,
        time::Duration::seconds(10)
    );
    assert_eq!(
        app.machine_view(&id, None).await["isolated"],
        false,
        "not before Succeeded"
    );

    // One big jump: the completion timestamp is when it was due, not when it was observed.
    app.advance(3600.0).await;
    let a = app.action(&t, &aid).await;
    assert_eq!(a["status"], "Succeeded");
    assert_eq!(
        ts(&a["lastUpdateDateTimeUtc"]) - t0,
        time::Duration::seconds(60)
    );
    assert_eq!(a["creationDateTimeUtc"], created["creationDateTimeUtc"]);
    let view = app.machine_view(&id, None).await;
    assert_eq!(
        (view["isolated"].clone(), view["isolationScope"].clone()),
        (json!(true), json!("Selective"))
    );

    let un: Value = app.unisolate(&t, &id).await.json();
    app.advance(59.0).await;
    assert_eq!(app.machine_view(&id, None).await["isolated"], true);
    app.advance(1.0).await;
    assert_eq!(
        app.action(&t, un["id"].as_str().unwrap()).await["status"],
        "Succeeded"
    );
    assert_eq!(app.machine_view(&id, None).await["isolated"], false);
}

#[tokio::test]
async fn a_new_action_is_accepted_once_the_previous_one_ended() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
    assert_eq!(app.unisolate(&t, &id).await.status(), 400);
    app.advance(60.0).await;
    assert_eq!(app.unisolate(&t, &id).await.status(), 201);
}

#[tokio::test]
async fn the_clock_endpoint_reports_the_advanced_time() {
    let app = spawn_app().await;
    let before = app.mock_get("/_mock/clock").await;
    app.advance(90.5).await;
    let after = app.mock_get("/_mock/clock").await;
    assert_eq!(
        ts(&after["now"]) - ts(&before["now"]),
        time::Duration::milliseconds(90_500)
    );
    assert_eq!(after["mode"], "frozen");
}
