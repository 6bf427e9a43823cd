//! Isolate / unisolate: the documented example, wire shape, duplicates, OS rules, strict state.

use defender_mock::{Config, DuplicatePolicy, StoreOptions};
use serde_json::{json, Value};

use crate::helpers::*;

const ORDER: &[&str] = &[
    "@odata.context",
    "id",
    "type",
    "title",
    "requestor",
    "requestorComment",
    "status",
    "machineId",
    "computerDnsName",
    "creationDateTimeUtc",
    "lastUpdateDateTimeUtc",
    "cancellationRequestor",
    "cancellationComment",
    "cancellationDateTimeUtc",
    "errorHResult",
    "scope",
    "externalId",
    "requestSource",
    "relatedFileInfo",
    "commands",
    "troubleshootInfo",
];

fn is_wire_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 28
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && s[20..27].bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn the_documented_unisolate_example_answers_201_with_the_full_machine_action() {
    let app = spawn_app().await;
    let id = machine_id("fin-lt-0187"); // starts isolated
    let r = app
        .post_raw(
            &format!("/api/machines/{id}/unisolate"),
            Some(&app.admin_token()),
            Some("application/json"),
            DOC_BODY,
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
    );
    assert_eq!(r.headers()["odata-version"], "4.0");
    let body: Value = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ORDER);
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/$metadata#MachineActions/$entity", app.url)
    );
    assert_eq!(body["type"], "Unisolate");
    assert_eq!(body["status"], "Pending");
    assert_eq!(body["title"], Value::Null);
    assert_eq!(body["requestor"], "defender-mock development app");
    assert_eq!(
        body["requestorComment"],
        "Unisolate machine since it was clean and validated"
    );
    assert_eq!(body["machineId"], id.as_str());
    assert_eq!(body["computerDnsName"], "fin-lt-0187.contoso.com");
    assert_eq!(body["errorHResult"], 0);
    assert_eq!(body["scope"], Value::Null);
    assert_eq!(body["requestSource"], "PublicApi");
    assert_eq!(body["commands"], json!([]));
    assert_eq!(body["cancellationRequestor"], Value::Null);
    assert!(is_wire_timestamp(&body["creationDateTimeUtc"]), "{body}");
    assert!(is_wire_timestamp(&body["lastUpdateDateTimeUtc"]), "{body}");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn isolate_scope_follows_isolation_type_and_defaults_to_full() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let r = app.isolate(&t, &machine_id("fin-lt-0142")).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>()["scope"], "Full");
    let selective = json!({"IsolationType": "Selective"});
    let r = app
        .act(&t, &machine_id("eng-lt-0311"), "isolate", selective)
        .await;
    assert_eq!(r.json::<Value>()["scope"], "Selective");
    let unmanaged = json!({"IsolationType": "UnManagedDevice"});
    let b: Value = app
        .act(&t, &machine_id("byod-phone-77"), "isolate", unmanaged)
        .await
        .json();
    assert_eq!(
        (b["type"].as_str(), b["scope"].as_str()),
        (Some("Isolate"), Some("UnManagedDevice"))
    );
}

#[tokio::test]
async fn isolation_type_outside_the_documented_set_is_invalid_input() {
    let app = spawn_app().await;
    let partial = json!({"IsolationType": "Partial"});
    let r = app
        .act(
            &app.admin_token(),
            &machine_id("fin-lt-0142"),
            "isolate",
            partial,
        )
        .await;
    assert_error_containing(r, 400, "InvalidInput", "Partial");
}

#[tokio::test]
async fn unsupported_os_is_os_platform_not_supported() {
    let app = spawn_app().await;
    let t = app.admin_token();
    // Windows 10 1607 cannot be isolated at all; 1703 only fully; Linux only fully; 2008 R2 never.
    let cases = [
        ("eng-ws-0219", json!({})),
        ("eng-ws-0203", json!({"IsolationType": "Selective"})),
        ("web-lnx-01", json!({"IsolationType": "Selective"})),
        ("app-old-02", json!({})),
        ("byod-phone-77", json!({})),
    ];
    for (name, extra) in cases {
        let r = app.act(&t, &machine_id(name), "isolate", extra).await;
        assert_error_containing(
            r,
            400,
            "OsPlatformNotSupported",
            "isn't supported for this action",
        );
    }
    let full = json!({"IsolationType": "Full"});
    let r = app
        .act(&t, &machine_id("eng-ws-0203"), "isolate", full)
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn an_outdated_sensor_is_client_version_not_supported() {
    let mut fleet = fleet();
    fleet[0]["simulation"] = json!({"sensorOutdated": true});
    let id = fleet[0]["id"].as_str().unwrap().to_owned();
    let app = spawn_with(StoreOptions::default(), fleet).await;
    let r = app.isolate(&app.admin_token(), &id).await;
    assert_error(r, 400, "ClientVersionNotSupported");
}

#[tokio::test]
async fn a_duplicate_is_rejected_by_default_and_isolate_conflicts_with_unisolate() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
    for action in ["isolate", "unisolate"] {
        assert_error_message(
            app.act(&t, &id, action, json!({})).await,
            400,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        );
    }
}

#[tokio::test]
async fn return_existing_answers_201_with_the_in_flight_action() {
    let options = StoreOptions {
        duplicate_policy: DuplicatePolicy::ReturnExisting,
        ..Default::default()
    };
    let app = spawn_with(options, fleet()).await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    let first: Value = app.isolate(&t, &id).await.json();
    let r = app.unisolate(&t, &id).await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["type"], "Isolate");
}

#[tokio::test]
async fn allow_creates_a_new_action_each_time() {
    let options = StoreOptions {
        duplicate_policy: DuplicatePolicy::Allow,
        ..Default::default()
    };
    let app = spawn_with(options, fleet()).await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0142");
    let a: Value = app.isolate(&t, &id).await.json();
    let b: Value = app.isolate(&t, &id).await.json();
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn the_duplicate_policy_can_be_set_per_tenant() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let path = format!("/_mock/tenants/{tenant}/duplicate-policy");
    let r = app
        .send(Req::put(&path).json(&json!({"policy": "allow"})))
        .await;
    assert_eq!(r.status(), 200);
    let t = app.tenant_token(&tenant);
    let id = machine_id("fin-lt-0142");
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
    assert_eq!(app.isolate(&t, &id).await.status(), 201);
    // The development tenant keeps the server-wide default.
    let dev = app.admin_token();
    assert_eq!(app.isolate(&dev, &id).await.status(), 201);
    assert_eq!(app.isolate(&dev, &id).await.status(), 400);
    let bad = app
        .send(Req::put(&path).json(&json!({"policy": "sometimes"})))
        .await;
    assert_error(bad, 400, "InvalidInput");
}

/// Over TCP: 32 requests on their own connections race for one machine.
#[tokio::test]
async fn of_32_concurrent_unisolates_exactly_one_is_created() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0187");
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let req = Req::post(format!("/api/machines/{id}/unisolate"))
            .bearer(&t)
            .json(&json!({"Comment": "race"}));
        let (client, url) = (app.tcp_client(), app.url.clone());
        tasks.push(tokio::spawn(
            async move { req.over_tcp(&client, &url).await },
        ));
    }
    let mut created = Vec::new();
    let mut statuses = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 201 {
            created.push(r.json::<Value>()["id"].clone());
        } else {
            assert_error(r, 400, "ActiveRequestAlreadyExists");
        }
    }
    assert_eq!(created.len(), 1, "{statuses:?}");
    let view = app.machine_view(&id, None).await;
    let in_flight = view["inFlightActions"].as_array().unwrap();
    assert_eq!(in_flight.len(), 1, "{view}");
    assert_eq!(
        in_flight[0], created[0],
        "the one in flight is the one created"
    );
}

#[tokio::test]
async fn unisolating_a_released_machine_is_accepted_unless_strict() {
    let app = spawn_app().await;
    let released = machine_id("fin-lt-0142");
    assert_eq!(
        app.unisolate(&app.admin_token(), &released).await.status(),
        201
    );

    let options = StoreOptions {
        strict_state: true,
        ..Default::default()
    };
    let strict = spawn_with(options, fleet()).await;
    let t = strict.admin_token();
    assert_error_message(
        strict.unisolate(&t, &released).await,
        400,
        "BadRequest",
        &format!("Machine {released} is not isolated"),
    );
    let isolated = machine_id("fin-lt-0187");
    assert_error_message(
        strict.isolate(&t, &isolated).await,
        400,
        "BadRequest",
        &format!("Machine {isolated} is already isolated"),
    );
    assert_eq!(strict.unisolate(&t, &isolated).await.status(), 201);
}

#[tokio::test]
async fn a_machine_can_be_addressed_by_computer_name_and_in_any_case() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let r = app.isolate(&t, "FIN-LT-0142.contoso.com").await;
    assert_eq!(r.status(), 201);
    let id = machine_id("eng-lt-0311").to_uppercase();
    let b = app.act_ok(&t, &id, "isolate", json!({})).await;
    assert_eq!(b["machineId"], id.to_lowercase());
}
