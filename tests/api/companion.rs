//! The machine companion endpoints: tags on one machine and many, find by tag and by internal
//! IP, logon users; their permissions, 404 and 400 cases, device-group scoping, tenant isolation
//! and machine id aliases (`aadDeviceId`, computer name).

use std::time::Duration;

use defender_mock::{
    dev::{APP_ID as DEV_APP_ID, MDE_AUDIENCE},
    Config, TokenSpec,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use crate::helpers::*;

const MONTH: i64 = 30 * 86_400;
const TAGGER: &[&str] = &["Machine.ReadWrite.All"];

fn tags_of(m: &Value) -> Vec<String> {
    m["machineTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

fn fixture(name: &str) -> Value {
    fleet()
        .into_iter()
        .find(|m| m["computerDnsName"].as_str().unwrap().starts_with(name))
        .unwrap()
}

async fn tag(app: &TestApp, token: &str, id: &str, value: &str, action: &str) -> TestResponse {
    app.post_json(
        &format!("/api/machines/{id}/tags"),
        token,
        &json!({"Value": value, "Action": action}),
    )
    .await
}

/// A token for `tenant` with `roles`.
fn tenant_token(app: &TestApp, tenant: &str, roles: &[&str]) -> String {
    app.token_with(TokenSpec {
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ttl_secs: MONTH,
        ..TokenSpec::default()
    })
}

/// A delegated token from the password grant (users.json).
async fn user_token(app: &TestApp, upn: &str, password: &str) -> String {
    let r = app
        .send(
            Req::post(format!("/{}/oauth2/token", defender_mock::dev::TENANT_ID)).form(&[
                ("grant_type", "password"),
                ("client_id", DEV_APP_ID),
                ("resource", MDE_AUDIENCE),
                ("username", upn),
                ("password", password),
            ]),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_tag_added_shows_in_get_and_in_filter_and_is_removed_again() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.ReadWrite.All", "Machine.Read.All"]);
    let id = machine_id("hr-dt-0031");
    let r = tag(&app, &t, &id, "test Tag 2", "Add").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Machines/$entity", app.url)
    );
    assert_eq!(b["id"], id.as_str());
    assert_eq!(tags_of(&b), ["HR", "test Tag 2"]);

    let got: Value = app.get_machine(&t, &id).await.json();
    assert_eq!(tags_of(&got), ["HR", "test Tag 2"]);
    let list: Value = app
        .get(
            "/api/machines?$filter=machineTags/any(tag: tag eq 'test Tag 2')",
            &t,
        )
        .await
        .json();
    let ids: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    // Adding it again (any case) changes nothing; removing it (any case) takes it out.
    let b: Value = tag(&app, &t, &id, "TEST tag 2", "add").await.json();
    assert_eq!(tags_of(&b), ["HR", "test Tag 2"]);
    let b: Value = tag(&app, &t, &id, "test tag 2", "Remove").await.json();
    assert_eq!(tags_of(&b), ["HR"]);
    let b: Value = tag(&app, &t, &id, "absent", "Remove").await.json();
    assert_eq!(tags_of(&b), ["HR"]);
    let got: Value = app.get_machine(&t, &id).await.json();
    assert_eq!(tags_of(&got), ["HR"]);
}

#[tokio::test]
async fn tags_are_per_tenant() {
    let app = spawn_app().await;
    let (a, b) = (fresh_tenant(), fresh_tenant());
    let id = machine_id("hr-dt-0031");
    let ta = tenant_token(&app, &a, &["Machine.ReadWrite.All", "Machine.Read.All"]);
    let tb = tenant_token(&app, &b, &["Machine.ReadWrite.All", "Machine.Read.All"]);
    assert_eq!(
        tag(&app, &ta, &id, "Quarantined", "Add").await.status(),
        200
    );
    let in_a: Value = app.get_machine(&ta, &id).await.json();
    let in_b: Value = app.get_machine(&tb, &id).await.json();
    assert_eq!(tags_of(&in_a), ["HR", "Quarantined"]);
    assert_eq!(tags_of(&in_b), ["HR"]);
    let found: Value = app
        .get("/api/machines/findbytag?tag=Quarantined", &tb)
        .await
        .json();
    assert_eq!(found["value"], json!([]));
}

#[tokio::test]
async fn a_tag_by_aad_device_id_or_computer_name_lands_on_the_right_machine() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.ReadWrite.All", "Machine.Read.All"]);
    let m = fixture("eng-ws-0230");
    let aad = m["aadDeviceId"].as_str().unwrap();
    let b: Value = tag(&app, &t, aad, "ByAad", "Add").await.json();
    assert_eq!(b["id"], m["id"]);
    let b: Value = tag(&app, &t, "eng-ws-0230", "ByName", "Add").await.json();
    assert_eq!(b["id"], m["id"]);
    assert_eq!(tags_of(&b), ["ByAad", "ByName"]);
    // Nothing else got them.
    let found: Value = app
        .get(
            "/api/machines/findbytag?tag=By&useStartsWithFilter=true",
            &t,
        )
        .await
        .json();
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    assert_eq!(found["value"][0]["id"], m["id"]);
}

#[tokio::test]
async fn tags_need_machine_readwrite_and_a_known_machine_and_a_valid_body() {
    let app = spawn_app().await;
    let id = machine_id("hr-dt-0031");
    let reader = app.token(&["Machine.Read.All", "Machine.Isolate"]);
    assert_error_message(
        tag(&app, &reader, &id, "x", "Add").await,
        403,
        "Forbidden",
        "The application does not have any of the required application permissions (Machine.ReadWrite.All) to access the resource.",
    );
    let t = app.token(TAGGER);
    assert_error(
        tag(&app, &t, &"0".repeat(40), "x", "Add").await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        app.post_json(
            &format!("/api/machines/{id}/tags"),
            &t,
            &json!({"Action": "Add"}),
        )
        .await,
        400,
        "MissingRequiredParameter",
    );
    assert_error(tag(&app, &t, &id, "x", "Toggle").await, 400, "InvalidInput");
    assert_error(
        tag(&app, &t, &id, "  ", "Add").await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        tag(&app, &t, &id, &"x".repeat(201), "Add").await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        app.post_raw(
            &format!("/api/machines/{id}/tags"),
            Some(&t),
            Some("application/json"),
            "[1]",
        )
        .await,
        400,
        "InvalidRequestBody",
    );
    // Route words in any case, as Microsoft's pages spell them.
    let r = app
        .post_json(
            &format!("/api/Machines/{id}/Tags"),
            &t,
            &json!({"Value": "x", "Action": "Add"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

#[tokio::test]
async fn a_tag_for_many_machines_changes_them_all_or_none() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.ReadWrite.All", "Machine.Read.All"]);
    let path = "/api/machines/AddOrRemoveTagForMultipleMachines";
    let a = machine_id("sales-lt-0402");
    let b = fixture("sales-lt-0415");
    let r = app
        .post_json(
            path,
            &t,
            &json!({"Value": "Campaign", "Action": "Add",
                    "MachineIds": [a, b["aadDeviceId"], a]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let body: Value = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/$metadata#Machines", app.url)
    );
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one row per machine: {body}");
    assert_eq!(rows[0]["id"], a.as_str());
    assert_eq!(rows[1]["id"], b["id"]);
    assert!(rows.iter().all(|m| tags_of(m) == ["Campaign"]));

    // An unknown id: 404, and the known one is not changed.
    let c = machine_id("sales-lt-0420");
    assert_error(
        app.post_json(
            path,
            &t,
            &json!({"Value": "Other", "Action": "Add", "MachineIds": [c, "f".repeat(40)]}),
        )
        .await,
        404,
        "ResourceNotFound",
    );
    let got: Value = app.get_machine(&t, &c).await.json();
    assert_eq!(tags_of(&got), Vec::<String>::new());

    let r = app
        .post_json(
            path,
            &t,
            &json!({"Value": "Campaign", "Action": "Remove", "MachineIds": [a]}),
        )
        .await;
    assert_eq!(
        tags_of(&r.json::<Value>()["value"][0]),
        Vec::<String>::new()
    );

    for (body, code) in [
        (
            json!({"Value": "x", "Action": "Add"}),
            "MissingRequiredParameter",
        ),
        (
            json!({"Value": "x", "Action": "Add", "MachineIds": []}),
            "InvalidRequestBody",
        ),
        (
            json!({"Value": "x", "Action": "Add", "MachineIds": "abc"}),
            "InvalidRequestBody",
        ),
        (
            json!({"Value": "x", "Action": "Add", "MachineIds": [1]}),
            "InvalidRequestBody",
        ),
        (
            json!({"Value": "x", "Action": "Add", "MachineIds": vec![a.clone(); 501]}),
            "InvalidRequestBody",
        ),
        (
            json!({"Value": "x", "Action": "Both", "MachineIds": [a]}),
            "InvalidInput",
        ),
    ] {
        assert_error(app.post_json(path, &t, &body).await, 400, code);
    }
    // 500 is allowed.
    let r = app
        .post_json(
            path,
            &t,
            &json!({"Value": "x", "Action": "Add", "MachineIds": vec![a.clone(); 500]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_error_containing(
        app.post_json(
            path,
            &app.token(&["Machine.Read.All"]),
            &json!({"Value": "x", "Action": "Add", "MachineIds": [a]}),
        )
        .await,
        403,
        "Forbidden",
        "(Machine.ReadWrite.All)",
    );
}

#[tokio::test]
async fn find_by_tag_matches_whole_tags_or_their_start_in_any_case() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.Read.All"]);
    let names = |b: Value| -> Vec<String> {
        b["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["computerDnsName"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.get("/api/machines/findbytag?tag=tier0", &t).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Machines", app.url)
    );
    let mut got = names(b);
    got.sort();
    assert_eq!(
        got,
        [
            "dc01.corp.contoso.com",
            "dc02.corp.contoso.com",
            "exec-lt-0001.contoso.com"
        ]
    );
    let b: Value = app.get("/api/machines/findbytag?tag=Leg", &t).await.json();
    assert_eq!(b["value"], json!([]));
    let b: Value = app
        .get(
            "/api/v1.0/machines/FindByTag?tag=Leg&useStartsWithFilter=true",
            &t,
        )
        .await
        .json();
    assert_eq!(b["value"].as_array().unwrap().len(), 4, "{b}");
    // A tag with a space, percent-encoded.
    let w = app.token(TAGGER);
    tag(&app, &w, "dc01", "test Tag 2", "Add").await;
    let b: Value = app
        .get("/api/machines/findbytag?tag=test%20Tag%202", &t)
        .await
        .json();
    assert_eq!(names(b), ["dc01.corp.contoso.com"]);

    assert_error(
        app.get("/api/machines/findbytag", &t).await,
        400,
        "MissingRequiredParameter",
    );
    assert_error(
        app.get(
            "/api/machines/findbytag?tag=x&useStartsWithFilter=maybe",
            &t,
        )
        .await,
        400,
        "InvalidInput",
    );
    assert_error_containing(
        app.get(
            "/api/machines/findbytag?tag=x",
            &app.token(&["Machine.Isolate"]),
        )
        .await,
        403,
        "Forbidden",
        "(Machine.Read.All, Machine.ReadWrite.All)",
    );
}

/// The fleet with `fin-lt-0142` seen from ten days ago until now (emulator start).
fn fleet_seen_now() -> (Vec<Value>, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    let mut machines = fleet();
    for m in &mut machines {
        if m["computerDnsName"] == "fin-lt-0142.contoso.com" {
            m["firstSeen"] = json!((now - time::Duration::days(10)).format(&Rfc3339).unwrap());
            m["lastSeen"] = json!(now.format(&Rfc3339).unwrap());
        }
    }
    (machines, now)
}

#[tokio::test]
async fn find_by_ip_finds_machines_seen_with_the_address_near_the_time() {
    let (machines, _) = fleet_seen_now();
    let app = spawn_with(Default::default(), machines).await;
    let now = app.emulator.now();
    let t = app.token(&["Machine.Read.All"]);
    let at = |ago: time::Duration| (now - ago).format(&Rfc3339).unwrap();
    let find = |ip: &str, ts: String| format!("/api/machines/findbyip(ip='{ip}',timestamp={ts})");

    let r = app
        .get(&find("10.60.1.10", at(time::Duration::hours(2))), &t)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Machines", app.url)
    );
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    assert_eq!(b["value"][0]["id"], machine_id("fin-lt-0142").as_str());

    // Under /api/v1.0/, in any case.
    let r = app
        .get(
            &format!(
                "/api/v1.0/Machines/FindByIP(ip='10.60.1.10',timestamp={})",
                at(time::Duration::minutes(1))
            ),
            &t,
        )
        .await;
    assert_eq!(r.json::<Value>()["value"].as_array().unwrap().len(), 1);

    // Seen more than 15 minutes before the time: not found (an empty list, not 404).
    let b: Value = app
        .get(&find("10.60.1.10", at(time::Duration::days(11))), &t)
        .await
        .json();
    assert_eq!(b["value"], json!([]));
    let b: Value = app
        .get(&find("10.99.99.99", at(time::Duration::hours(1))), &t)
        .await
        .json();
    assert_eq!(b["value"], json!([]));

    // Older than 30 days, or in the future: 400.
    assert_error_containing(
        app.get(&find("10.60.1.10", at(time::Duration::days(31))), &t)
            .await,
        400,
        "InvalidInput",
        "must be in the past 30 days.",
    );
    assert_error(
        app.get(&find("10.60.1.10", at(-time::Duration::hours(1))), &t)
            .await,
        400,
        "InvalidInput",
    );
    assert_error_message(
        app.get(&find("10.60.1.999", at(time::Duration::hours(1))), &t)
            .await,
        400,
        "InvalidInput",
        "IP address 10.60.1.999 is invalid.",
    );
    assert_error(
        app.get(&find("10.60.1.10", "yesterday".into()), &t).await,
        400,
        "InvalidInput",
    );
    assert_error(
        app.get("/api/machines/findbyip(ip='10.60.1.10'", &t).await,
        400,
        "InvalidInput",
    );
    assert_error(
        app.get("/api/machines/findbyip(ip='10.60.1.10')", &t).await,
        400,
        "MissingRequiredParameter",
    );
    assert_error(
        app.get(
            &find("10.60.1.10", at(time::Duration::hours(1))),
            &app.token(&["Machine.Isolate"]),
        )
        .await,
        403,
        "Forbidden",
    );
}

#[tokio::test]
async fn logon_users_are_the_fixture_s_in_the_user_entity_shape() {
    let app = spawn_app().await;
    let t = app.token(&["User.Read.All"]);
    let m = fixture("fin-lt-0142");
    let r = app
        .get(
            &format!("/api/machines/{}/logonusers", m["id"].as_str().unwrap()),
            &t,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Users", app.url)
    );
    let users = b["value"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let keys: Vec<&str> = users[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "accountName",
            "accountDomain",
            "accountSid",
            "firstSeen",
            "lastSeen",
            "mostPrevalentMachineId",
            "leastPrevalentMachineId",
            "logonTypes",
            "logOnMachinesCount",
            "isDomainAdmin",
            "isOnlyNetworkUser"
        ]
    );
    assert_eq!(users[0]["id"], "contoso\\jdoe");
    // Left out of the fixture: the id from the names, nulls written out.
    assert_eq!(users[1]["id"], "contoso\\svc-backup");
    assert_eq!(users[1]["logonTypes"], "Network");
    assert!(users[1]["accountSid"].is_null());
    assert!(users[1]["logOnMachinesCount"].is_null());

    // By aadDeviceId and by name, in any route case.
    let by_aad: Value = app
        .get(
            &format!(
                "/api/machines/{}/LogonUsers",
                m["aadDeviceId"].as_str().unwrap()
            ),
            &t,
        )
        .await
        .json();
    assert_eq!(by_aad["value"], b["value"]);
    // A machine without any: an empty list.
    let none: Value = app
        .get("/api/machines/hr-dt-0031/logonusers", &t)
        .await
        .json();
    assert_eq!(none["value"], json!([]));

    assert_error(
        app.get(&format!("/api/machines/{}/logonusers", "0".repeat(40)), &t)
            .await,
        404,
        "ResourceNotFound",
    );
    assert_error_message(
        app.get(
            "/api/machines/dc01/logonusers",
            &app.token(&["Machine.Read.All", "Machine.ReadWrite.All"]),
        )
        .await,
        403,
        "Forbidden",
        "The application does not have any of the required application permissions (User.Read.All) to access the resource.",
    );
}

#[tokio::test]
async fn a_delegated_user_finds_tags_and_reads_users_only_within_its_device_groups() {
    let app = spawn_app().await;
    let t = user_token(
        &app,
        "finance.tagger@contoso.com",
        "finance-tagger-password",
    )
    .await;
    let fin = machine_id("fin-lt-0142");
    let dc = machine_id("dc01");
    assert_eq!(tag(&app, &t, &fin, "Finance-IR", "Add").await.status(), 200);
    assert_error(
        tag(&app, &t, &dc, "Finance-IR", "Add").await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        app.post_json(
            "/api/machines/AddOrRemoveTagForMultipleMachines",
            &t,
            &json!({"Value": "x", "Action": "Add", "MachineIds": [fin, dc]}),
        )
        .await,
        404,
        "ResourceNotFound",
    );
    let found: Value = app
        .get("/api/machines/findbytag?tag=Tier0", &t)
        .await
        .json();
    assert_eq!(found["value"], json!([]), "dc01 is outside Finance");
    let found: Value = app
        .get("/api/machines/findbytag?tag=finance", &t)
        .await
        .json();
    let groups: Vec<&str> = found["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rbacGroupName"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["Finance", "Finance"]);
    assert_eq!(
        app.get(&format!("/api/machines/{fin}/logonusers"), &t)
            .await
            .status(),
        200
    );
    assert_error(
        app.get(&format!("/api/machines/{dc}/logonusers"), &t).await,
        404,
        "ResourceNotFound",
    );

    // Tags need the delegated scope Machine.ReadWrite (the responder has Machine.Read only).
    let responder = user_token(
        &app,
        "finance.responder@contoso.com",
        "finance-responder-password",
    )
    .await;
    assert_error_containing(
        tag(&app, &responder, &fin, "x", "Add").await,
        403,
        "Forbidden",
        "(Machine.ReadWrite)",
    );
}

#[tokio::test]
async fn a_tag_change_is_published_as_machine_changed() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let tenant = fresh_tenant();
    let mut res = app
        .tcp_client()
        .get(format!(
            "{}/_mock/events?tenant={tenant}&types=machine.changed",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    let mut next_event = async || loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|n| n.trim().to_owned());
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if let Some(name) = name {
                return (name, data);
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    };
    assert_eq!(next_event().await.0, "ready");
    let t = tenant_token(&app, &tenant, TAGGER);
    let id = machine_id("kiosk-lobby-01");
    assert_eq!(tag(&app, &t, &id, "Lobby", "Add").await.status(), 200);
    let (name, data) = next_event().await;
    assert_eq!(name, "machine.changed");
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["machineId"], id.as_str());
    assert_eq!(data["tenant"], tenant.as_str());
    assert_eq!(data["restricted"], true, "the rest of its state is kept");
}

#[tokio::test]
async fn odata_property_names_are_accepted_in_pascal_case_and_answered_in_camel_case() {
    let app = spawn_app().await;
    let t = app.admin_token();
    let camel: Value = app
        .get(
            "/api/machines?$filter=healthStatus eq 'Active' and machineTags/any(tag: tag eq 'Tier0')&$orderby=computerDnsName desc&$select=id,computerDnsName",
            &t,
        )
        .await
        .json();
    let r = app
        .get(
            "/api/machines?$filter=HealthStatus eq 'Active' and MachineTags/any(tag: tag eq 'Tier0')&$orderby=ComputerDnsName desc&$select=Id,ComputerDnsName",
            &t,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let pascal: Value = r.json();
    assert_eq!(pascal["value"], camel["value"]);
    assert_eq!(pascal["value"].as_array().unwrap().len(), 3);
    let keys: Vec<&str> = pascal["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "computerDnsName"]);

    app.isolate(&t, &machine_id("hr-dt-0031")).await;
    let r = app
        .get(
            &format!(
                "/api/machineactions?$filter=MachineId eq '{}' and Status eq 'Pending'&$select=Id,Type",
                machine_id("hr-dt-0031")
            ),
            &t,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(b["value"][0]["type"], "Isolate");
    assert!(b["value"][0].get("Type").is_none());
}

#[tokio::test]
async fn offboard_is_refused_on_the_os_versions_its_page_excludes() {
    let mut machines = fleet();
    // A 2016 server on the MMA-era sensor: not the unified agent.
    for m in &mut machines {
        if m["computerDnsName"] == "sql-prod-01.corp.contoso.com" {
            m["agentVersion"] = json!("10.3720.16299.98");
        }
    }
    let app = spawn_with(Default::default(), machines).await;
    let t = app.token(&["Machine.Offboard"]);
    assert_error_message(
        app.act(&t, &machine_id("eng-ws-0219"), "offboard", json!({}))
            .await,
        400,
        "OsPlatformNotSupported",
        "OS Platform Windows10 1607 isn't supported for this action.",
    );
    assert_error_message(
        app.act(&t, &machine_id("app-old-02"), "offboard", json!({}))
            .await,
        400,
        "OsPlatformNotSupported",
        "OS Platform WindowsServer2008R2 6.1 isn't supported for this action.",
    );
    assert_error_message(
        app.act(&t, &machine_id("sql-prod-01"), "offboard", json!({}))
            .await,
        400,
        "ClientVersionNotSupported",
        "Offboard is supported on client version 10.8000 and above.",
    );
    for ok in ["eng-ws-0203", "fin-lt-0142", "dc02", "file-legacy-01"] {
        let r = app.act(&t, &machine_id(ok), "offboard", json!({})).await;
        assert_eq!(r.status(), 201, "{ok}: {}", r.text());
    }
}

#[tokio::test]
async fn error_messages_end_as_documented() {
    let mut machines = fleet();
    machines[0]["simulation"] = json!({"sensorOutdated": true});
    let outdated = machines[0]["id"].as_str().unwrap().to_owned();
    let app = spawn_with(Default::default(), machines).await;
    let t = app.token(&["Machine.StopAndQuarantine", "Machine.Isolate"]);
    assert_error_message(
        app.act(
            &t,
            &machine_id("hr-dt-0031"),
            "StopAndQuarantineFile",
            json!({"Sha1": "abc"}),
        )
        .await,
        400,
        "InvalidHashValue",
        "Hash value abc is invalid.",
    );
    assert_error_message(
        app.isolate(&t, &outdated).await,
        400,
        "ClientVersionNotSupported",
        "Isolate is supported on client version 10.8295 and above.",
    );
}

#[tokio::test]
async fn every_machine_route_takes_the_aad_device_id() {
    let app = spawn_app().await;
    let m = fixture("hr-dt-0031");
    let (id, aad) = (
        m["id"].as_str().unwrap(),
        m["aadDeviceId"].as_str().unwrap(),
    );
    let t = app.token(&[
        "Machine.Read.All",
        "Machine.ReadWrite.All",
        "Machine.Isolate",
        "Machine.RestrictExecution",
        "Machine.Scan",
        "Machine.CollectForensics",
        "Machine.StopAndQuarantine",
        "Machine.Offboard",
        "User.Read.All",
    ]);
    let got: Value = app.get_machine(&t, aad).await.json();
    assert_eq!(got["id"], id);
    let upper = aad.to_uppercase();
    for (action, extra) in [
        ("isolate", json!({})),
        ("restrictCodeExecution", json!({})),
        ("runAntiVirusScan", json!({})),
        ("collectInvestigationPackage", json!({})),
        (
            "StopAndQuarantineFile",
            json!({"Sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"}),
        ),
        ("offboard", json!({})),
    ] {
        let a = app.act_ok(&t, &upper, action, extra).await;
        assert_eq!(a["machineId"], id, "{action}");
    }
    app.advance(3600.0).await;
    for action in ["unisolate", "unrestrictCodeExecution"] {
        let a = app.act_ok(&t, aad, action, json!({})).await;
        assert_eq!(a["machineId"], id, "{action}");
    }
    let b: Value = tag(&app, &t, aad, "x", "Add").await.json();
    assert_eq!(b["id"], id);
    let r = app
        .get(&format!("/api/machines/{aad}/logonusers"), &t)
        .await;
    assert_eq!(r.status(), 200);
}
