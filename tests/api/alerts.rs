//! Alerts (issue 9 item 3, docs/contract/alerts.md): list with OData and `$expand=evidence`, get,
//! update, batch update, CreateAlertByReference, a machine's alerts, an alert's machine, user,
//! files, IPs and domains; permissions, device-group scoping, tenant isolation, machine aliases,
//! fixture loading, the control-plane raise and the alert events on the stream.

use std::sync::LazyLock;

use defender_mock::{Config, Emulator, TokenSpec};
use serde_json::{json, Value};

use crate::helpers::*;

static FIXTURE: LazyLock<Vec<Value>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../fixtures/alerts.json")).expect("fixture alerts")
});

/// The documented property order, with the two keys real responses add.
const ORDER: &[&str] = &[
    "id",
    "incidentId",
    "investigationId",
    "assignedTo",
    "severity",
    "status",
    "classification",
    "determination",
    "investigationState",
    "detectionSource",
    "detectorId",
    "category",
    "threatFamilyName",
    "title",
    "description",
    "alertCreationTime",
    "firstEventTime",
    "lastEventTime",
    "lastUpdateTime",
    "resolvedTime",
    "machineId",
    "computerDnsName",
    "rbacGroupName",
    "aadTenantId",
    "threatName",
    "mitreTechniques",
    "relatedUser",
    "loggedOnUsers",
    "comments",
    "evidence",
    "domains",
];

const DEV_TENANT: &str = "8a1c2f6e-4b3d-4e5f-9a0b-1c2d3e4f5a6b";

/// The id of the first fixture alert on machine `name` (DNS name prefix).
fn alert_on(name: &str) -> String {
    FIXTURE
        .iter()
        .find(|a| a["computerDnsName"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no fixture alert on {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn reader(app: &TestApp) -> String {
    app.token(&["Alert.Read.All"])
}

fn writer(app: &TestApp) -> String {
    app.token(&["Alert.ReadWrite.All"])
}

fn ids(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/alerts{query}"), token).await;
    assert_eq!(r.status(), 200, "{query}: {}", r.text());
    r.json()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: &Value) -> TestResponse {
    app.send(
        Req::patch(format!("/api/alerts/{id}"))
            .bearer(token)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn the_list_has_every_fixture_alert_newest_first_in_the_wire_order_without_evidence() {
    let app = spawn_app().await;
    let r = app.get("/api/alerts", &reader(&app)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json; odata.metadata=minimal"));
    let body: Value = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/$metadata#Alerts", app.url)
    );
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), FIXTURE.len());
    let times: Vec<&str> = value
        .iter()
        .map(|a| a["alertCreationTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    for a in value {
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ORDER);
        assert_eq!(a["evidence"], json!([]));
        assert_eq!(a["aadTenantId"], DEV_TENANT);
    }
    // rbacGroupName comes from the machine.
    let fin = value
        .iter()
        .find(|a| a["id"] == alert_on("fin-lt-0142"))
        .unwrap();
    assert_eq!(fin["rbacGroupName"], "Finance");
    assert_eq!(fin["machineId"], machine_id("fin-lt-0142"));
}

#[tokio::test]
async fn expand_evidence_fills_it_and_other_expansions_are_refused() {
    let app = spawn_app().await;
    let t = reader(&app);
    let body = list(&app, &t, "?$top=10&$expand=evidence").await;
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 10);
    assert!(body.get("@odata.nextLink").is_none());
    for a in value {
        let ev = a["evidence"].as_array().unwrap();
        assert!(!ev.is_empty(), "{a}");
        let keys: Vec<&str> = ev[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys[0], "entityType");
        assert_eq!(keys.len(), 26);
        assert_eq!(*keys.last().unwrap(), "detectionStatus");
    }
    let r = app.get("/api/alerts?$expand=comments", &t).await;
    assert_error_containing(r, 400, "ODataError", "Only 'evidence' can be expanded");
    let r = app
        .get("/api/alerts?$expand=evidence&$expand=evidence", &t)
        .await;
    assert_error(r, 400, "ODataError");
}

#[tokio::test]
async fn filter_top_skip_work_on_the_documented_properties() {
    let app = spawn_app().await;
    let t = reader(&app);
    let count = |f: &dyn Fn(&Value) -> bool| FIXTURE.iter().filter(|a| f(a)).count();

    let high = list(&app, &t, "?$filter=severity eq 'High'").await;
    let n = count(&|a| a["severity"] == "High");
    assert!(n > 1);
    assert_eq!(ids(&high).len(), n);

    let q = "?$filter=status eq 'New' and category eq 'Malware'";
    let b = list(&app, &t, q).await;
    assert_eq!(
        ids(&b).len(),
        count(&|a| a["status"] == "New" && a["category"] == "Malware")
    );

    let b = list(
        &app,
        &t,
        "?$filter=alertCreationTime ge 2026-11-25T00:00:00Z",
    )
    .await;
    let n = count(&|a| a["alertCreationTime"].as_str().unwrap() >= "2026-11-25");
    assert_eq!(ids(&b).len(), n);

    let b = list(&app, &t, "?$filter=incidentId eq 4101").await;
    assert_eq!(ids(&b), vec![FIXTURE[0]["id"].as_str().unwrap().to_owned()]);

    let b = list(&app, &t, "?$filter=detectionSource eq 'WindowsDefenderAv'").await;
    assert_eq!(
        ids(&b).len(),
        count(&|a| a["detectionSource"] == "WindowsDefenderAv")
    );

    let all = ids(&list(&app, &t, "").await);
    let page = ids(&list(&app, &t, "?$top=5&$skip=3").await);
    assert_eq!(page, all[3..8]);

    // The engine's other options work here too: $select keeps the selected keys (aadTenantId
    // included), $count counts, $orderby sorts; and without $top a short page links the next.
    let b = list(
        &app,
        &t,
        "?$select=id,aadTenantId&$count=true&$orderby=incidentId",
    )
    .await;
    assert_eq!(b["@odata.count"], FIXTURE.len());
    assert_eq!(
        b["value"][0],
        json!({"id": FIXTURE[0]["id"], "aadTenantId": DEV_TENANT})
    );
    let paged = spawn_config(
        Config {
            page_size: 4,
            ..Config::for_tests()
        },
        fleet(),
    )
    .await;
    let b = list(&paged, &reader(&paged), "?$expand=evidence").await;
    assert_eq!(ids(&b), all[..4]);
    let next = b["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("%24expand=evidence") && next.contains("%24skip=4"),
        "{next}"
    );

    // Not a documented filter property, and a value outside the enum: 400.
    let r = app.get("/api/alerts?$filter=title eq 'x'", &t).await;
    assert_error(r, 400, "ODataError");
    let r = app
        .get("/api/alerts?$filter=severity eq 'Severe'", &t)
        .await;
    assert_error(r, 400, "ODataError");
    let r = app.get("/api/alerts?$top=10001", &t).await;
    assert_error(r, 400, "ODataError");
}

#[tokio::test]
async fn get_by_id_has_evidence_and_404s_for_an_unknown_id() {
    let app = spawn_app().await;
    let t = reader(&app);
    let id = alert_on("eng-ws-0203");
    let r = app.get(&format!("/api/alerts/{id}"), &t).await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json();
    assert_eq!(
        a["@odata.context"],
        format!("{}/api/$metadata#Alerts/$entity", app.url)
    );
    assert_eq!(a["id"], id.as_str());
    assert!(!a["evidence"].as_array().unwrap().is_empty());
    let keys: Vec<&str> = a
        .as_object()
        .unwrap()
        .keys()
        .skip(1)
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ORDER);
    let r = app.get("/api/alerts/da000_1", &t).await;
    assert_error_message(r, 404, "ResourceNotFound", "Alert da000_1 was not found");
    // Also under /api/v1.0 and with the route word in another case.
    let r = app.get(&format!("/api/v1.0/Alerts/{id}"), &t).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn each_endpoint_names_the_permissions_it_accepts() {
    let app = spawn_app().await;
    let id = alert_on("fin-lt-0142");
    let machine = machine_id("fin-lt-0142");
    let machine_reader = app.token(&["Machine.Read.All"]);
    let reader = reader(&app);
    let forbidden = |r: TestResponse, names: &str| {
        assert_error_containing(
            r,
            403,
            "Forbidden",
            &format!("application permissions ({names})"),
        );
    };
    let read = "Alert.Read.All, Alert.ReadWrite.All";
    forbidden(app.get("/api/alerts", &machine_reader).await, read);
    forbidden(
        app.get(&format!("/api/alerts/{id}"), &machine_reader).await,
        read,
    );
    forbidden(
        app.get(&format!("/api/machines/{machine}/alerts"), &machine_reader)
            .await,
        read,
    );
    let body = json!({"status": "InProgress"});
    forbidden(
        patch(&app, &reader, &id, &body).await,
        "Alert.ReadWrite.All",
    );
    forbidden(
        app.post_json(
            "/api/alerts/batchUpdate",
            &reader,
            &json!({"alertIds": [id], "status": "New"}),
        )
        .await,
        "Alert.ReadWrite.All",
    );
    forbidden(
        app.post_json("/api/alerts/CreateAlertByReference", &reader, &json!({}))
            .await,
        "Alert.ReadWrite.All",
    );
    forbidden(
        app.get(&format!("/api/alerts/{id}/machine"), &reader).await,
        "Machine.Read.All, Machine.ReadWrite.All",
    );
    for (path, perm) in [
        ("user", "User.Read.All"),
        ("files", "File.Read.All"),
        ("ips", "Ip.Read.All"),
        ("domains", "URL.Read.All"),
    ] {
        forbidden(
            app.get(&format!("/api/alerts/{id}/{path}"), &reader).await,
            perm,
        );
    }
    // Delegated: the delegated names.
    let user = app.token_with(TokenSpec {
        scp: Some("Machine.Read".into()),
        upn: Some("someone@contoso.com".into()),
        ..TokenSpec::default()
    });
    assert_error_containing(
        app.get("/api/alerts", &user).await,
        403,
        "Forbidden",
        "delegated permissions (Alert.Read, Alert.ReadWrite)",
    );
    // The write permission reads too; no token at all is 401.
    assert_eq!(app.get("/api/alerts", &writer(&app)).await.status(), 200);
    let r = app.send(Req::get("/api/alerts")).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn patch_updates_the_documented_properties_and_appends_the_comment() {
    let app = spawn_app().await;
    let t = writer(&app);
    let id = alert_on("eng-ws-0219");
    let now = app.mock_get("/_mock/clock").await["now"].clone();
    let body = json!({
        "status": "Resolved", "assignedTo": "secop2@contoso.com",
        "classification": "FalsePositive", "determination": "NotMalicious",
        "comment": "Resolve my alert and assign to secop2"
    });
    let r = patch(&app, &t, &id, &body).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let a: Value = r.json();
    assert_eq!(a["status"], "Resolved");
    assert_eq!(a["assignedTo"], "secop2@contoso.com");
    assert_eq!(a["classification"], "FalsePositive");
    assert_eq!(a["determination"], "Clean");
    assert_eq!(a["resolvedTime"], now);
    assert_eq!(a["lastUpdateTime"], now);
    let comments = a["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0],
        json!({"comment": "Resolve my alert and assign to secop2",
               "createdBy": "defender-mock development app", "createdTime": now})
    );
    // A GET sees it; a later PATCH (the update page's key spelling) reopens it and appends.
    let got: Value = app.get(&format!("/api/alerts/{id}"), &t).await.json();
    assert_eq!(got["status"], "Resolved");
    app.advance(60.0).await;
    let r = patch(
        &app,
        &t,
        &id,
        &json!({"Status": "InProgress", "Comment": "reopened"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let a: Value = r.json();
    assert_eq!(a["status"], "InProgress");
    assert_eq!(a["resolvedTime"], Value::Null);
    assert_eq!(a["classification"], "FalsePositive", "kept");
    assert_eq!(a["comments"].as_array().unwrap().len(), 2);
    assert_eq!(a["comments"][1]["comment"], "reopened");
    assert_ne!(a["lastUpdateTime"], now);
    // A comment alone is an update too.
    let r = patch(&app, &t, &id, &json!({"comment": "just a note"})).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn patch_refuses_bad_bodies_and_unknown_alerts() {
    let app = spawn_app().await;
    let t = writer(&app);
    let id = alert_on("hr-dt-0044");
    let bad = |body: Value| {
        let app = &app;
        let (t, id) = (t.clone(), id.clone());
        async move { patch(app, &t, &id, &body).await }
    };
    assert_error_message(
        bad(json!({"status": "Unknown"})).await,
        400,
        "InvalidInput",
        "Invalid input Unknown",
    );
    assert_error(
        bad(json!({"classification": "Bogus"})).await,
        400,
        "InvalidInput",
    );
    // Deprecated since 2022.
    assert_error(
        bad(json!({"determination": "Apt"})).await,
        400,
        "InvalidInput",
    );
    assert_error_containing(
        bad(json!({"severity": "High"})).await,
        400,
        "InvalidRequestBody",
        "severity cannot be updated",
    );
    assert_error(bad(json!({})).await, 400, "InvalidRequestBody");
    assert_error(bad(json!({"status": 3})).await, 400, "InvalidRequestBody");
    let long = "x".repeat(5000);
    assert_error(
        bad(json!({"comment": long})).await,
        400,
        "InvalidRequestBody",
    );
    let r = app
        .send(
            Req::patch(format!("/api/alerts/{id}"))
                .bearer(&t)
                .body(Some("application/json"), "{not json"),
        )
        .await;
    assert_error(r, 400, "InvalidRequestBody");
    // Nothing changed.
    let a: Value = app.get(&format!("/api/alerts/{id}"), &t).await.json();
    assert_eq!(a["status"], "New");
    assert_eq!(a["comments"], json!([]));
    // An unknown alert is a 404 even with a bad body.
    let r = patch(&app, &t, "nope_1", &json!({"status": "Bogus"})).await;
    assert_error(r, 404, "ResourceNotFound");
}

#[tokio::test]
async fn batch_update_changes_every_alert_or_none() {
    let app = spawn_app().await;
    let t = writer(&app);
    let (a, b) = (alert_on("dc01"), alert_on("dc02"));
    let r = app
        .post_json(
            "/api/alerts/batchUpdate",
            &t,
            &json!({"alertIds": [a, b], "status": "Resolved", "assignedTo": "secop2@contoso.com",
                    "classification": "TruePositive", "determination": "Malware",
                    "comment": "batch"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(r.bytes().is_empty(), "empty body");
    for id in [&a, &b] {
        let x: Value = app.get(&format!("/api/alerts/{id}"), &t).await.json();
        assert_eq!(x["status"], "Resolved");
        assert_eq!(x["determination"], "Malware");
        assert_eq!(x["comments"][0]["comment"], "batch");
    }
    // One unknown id: 404 naming it, and the other is left as it was.
    let c = alert_on("sql-prod-01");
    let r = app
        .post_json(
            "/api/alerts/batchUpdate",
            &t,
            &json!({"alertIds": [c, "missing_7"], "status": "Resolved"}),
        )
        .await;
    assert_error_message(r, 404, "ResourceNotFound", "Alert missing_7 was not found");
    let x: Value = app.get(&format!("/api/alerts/{c}"), &t).await.json();
    assert_eq!(x["status"], "InProgress");
    // 400s.
    let post = |body: Value| {
        let (app, t) = (&app, t.clone());
        async move { app.post_json("/api/alerts/batchUpdate", &t, &body).await }
    };
    assert_error(
        post(json!({"status": "New"})).await,
        400,
        "MissingRequiredParameter",
    );
    assert_error(
        post(json!({"alertIds": [], "status": "New"})).await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        post(json!({"alertIds": "x", "status": "New"})).await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        post(json!({"alertIds": [c]})).await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        post(json!({"alertIds": [c], "status": "Closed"})).await,
        400,
        "InvalidInput",
    );
}

#[tokio::test]
async fn batch_update_has_its_documented_rate_limit() {
    let app = spawn_app().await;
    let t = writer(&app);
    let id = alert_on("kiosk-lobby-01");
    for i in 0..10 {
        let r = app
            .post_json(
                "/api/alerts/batchUpdate",
                &t,
                &json!({"alertIds": [id], "comment": format!("n{i}")}),
            )
            .await;
        assert_eq!(r.status(), 200, "call {i}: {}", r.text());
    }
    let r = app
        .post_json(
            "/api/alerts/batchUpdate",
            &t,
            &json!({"alertIds": [id], "comment": "11"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_machines_alerts_by_id_name_or_aad_device_id() {
    let app = spawn_app().await;
    let t = reader(&app);
    let machine = machine_id("eng-ws-0203");
    let aad = fleet()
        .into_iter()
        .find(|m| m["id"] == machine.as_str())
        .unwrap()["aadDeviceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected: Vec<String> = FIXTURE
        .iter()
        .filter(|a| a["machineId"] == machine.as_str())
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 2);
    for key in [
        machine.as_str(),
        "eng-ws-0203",
        "ENG-WS-0203.contoso.com",
        &aad,
    ] {
        let r = app.get(&format!("/api/machines/{key}/alerts"), &t).await;
        assert_eq!(r.status(), 200, "{key}: {}", r.text());
        let body: Value = r.json();
        let mut got = ids(&body);
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{key}");
        assert!(body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#Alerts"));
    }
    let b: Value = app
        .get(
            &format!("/api/machines/{machine}/alerts?$filter=category eq 'CommandAndControl'"),
            &t,
        )
        .await
        .json();
    assert_eq!(ids(&b).len(), 1);
    let r = app
        .get(
            &format!("/api/machines/{machine}/alerts?$filter=title eq 'x'"),
            &t,
        )
        .await;
    assert_error(r, 400, "ODataError");
    let r = app.get("/api/machines/no-such-host/alerts", &t).await;
    assert_error(r, 404, "ResourceNotFound");
}

#[tokio::test]
async fn an_alerts_machine_user_files_ips_and_domains() {
    let app = spawn_app().await;
    let t = app.token(&[
        "Alert.Read.All",
        "Machine.Read.All",
        "User.Read.All",
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
    ]);
    let id = alert_on("eng-ws-0203");
    let fixture = FIXTURE.iter().find(|a| a["id"] == id.as_str()).unwrap();
    let get = |p: &str| {
        let (app, t, path) = (&app, t.clone(), format!("/api/alerts/{id}/{p}"));
        async move { app.get(&path, &t).await }
    };

    let m: Value = get("machine").await.json();
    assert_eq!(m["id"], machine_id("eng-ws-0203"));
    assert_eq!(
        m["@odata.context"],
        format!("{}/api/$metadata#Machines/$entity", app.url)
    );

    let u: Value = get("user").await.json();
    assert_eq!(
        u["@odata.context"],
        format!("{}/api/$metadata#Users/$entity", app.url)
    );
    assert_eq!(u["id"], "contoso\\bnguyen");
    assert_eq!(u["accountName"], "bnguyen");
    assert_eq!(u["accountDomain"], "CONTOSO");
    assert!(u["accountSid"].as_str().unwrap().starts_with("S-1-5-21-"));
    assert_eq!(u["mostPrevalentMachineId"], machine_id("eng-ws-0203"));

    let f: Value = get("files").await.json();
    assert_eq!(
        f["@odata.context"],
        format!("{}/api/$metadata#Files", app.url)
    );
    let sha1s: Vec<&Value> = fixture["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sha1"].is_string())
        .map(|e| &e["sha1"])
        .collect();
    assert_eq!(f["value"].as_array().unwrap().len(), sha1s.len());
    assert_eq!(&f["value"][0]["sha1"], sha1s[0]);
    assert_eq!(f["value"][0]["isPeFile"], true);

    let ips: Value = get("ips").await.json();
    assert_eq!(ips["@odata.context"], format!("{}/$metadata#Ips", app.url));
    assert_eq!(ips["value"], json!([{"id": "10.20.5.15"}]));

    // The C2 alert has a URL: its host is a domain.
    let c2 = FIXTURE
        .iter()
        .find(|a| {
            a["machineId"] == machine_id("eng-ws-0203").as_str()
                && a["category"] == "CommandAndControl"
        })
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let d: Value = app
        .get(&format!("/api/alerts/{c2}/domains"), &t)
        .await
        .json();
    assert_eq!(
        d["@odata.context"],
        format!("{}/$metadata#Domains", app.url)
    );
    assert_eq!(d["value"], json!([{"host": "cdn-update-6.example.net"}]));
    // No URL evidence: an empty list.
    let d: Value = get("domains").await.json();
    assert_eq!(d["value"], json!([]));

    // An alert without a related user: the real service's 404.
    let lnx = alert_on("web-lnx-01");
    let r = app.get(&format!("/api/alerts/{lnx}/user"), &t).await;
    assert_error_message(
        r,
        404,
        "ResourceNotFound",
        &format!("There is no User related to alert {lnx}"),
    );
    for p in ["machine", "user", "files", "ips", "domains"] {
        let r = app.get(&format!("/api/alerts/nope_1/{p}"), &t).await;
        assert_error(r, 404, "ResourceNotFound");
    }
}

fn reference_body(machine: &str, title: &str, event_time: &str) -> Value {
    json!({"machineId": machine, "severity": "Low", "title": title,
           "description": "example alert", "recommendedAction": "nothing",
           "eventTime": event_time, "reportId": "20776", "category": "Exploit"})
}

#[tokio::test]
async fn create_alert_by_reference_creates_then_merges_by_title() {
    let app = spawn_app().await;
    let t = writer(&app);
    let machine = machine_id("sales-lt-0402");
    let body = reference_body(&machine, "example", "2026-11-20T16:45:21.7115183Z");
    let r = app
        .post_json("/api/alerts/CreateAlertByReference", &t, &body)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let a: Value = r.json();
    assert_eq!(a["title"], "example");
    assert_eq!(a["severity"], "Low");
    assert_eq!(a["category"], "Exploit");
    assert_eq!(a["status"], "New");
    assert_eq!(a["description"], "example alert");
    assert_eq!(a["detectionSource"], "CustomDetection");
    assert_eq!(a["machineId"], machine.as_str());
    assert_eq!(a["firstEventTime"], "2026-11-20T16:45:21.7115183Z");
    assert!(a["id"].as_str().unwrap().starts_with("da"));
    // Listed first (newest), and readable.
    let l = list(&app, &t, "?$top=1").await;
    assert_eq!(ids(&l), vec![a["id"].as_str().unwrap().to_owned()]);
    // Same machine (by computer name), same title in another case: merged into the open alert.
    let body = reference_body("sales-lt-0402", "EXAMPLE", "2026-11-21T10:00:00Z");
    let b: Value = app
        .post_json("/api/alerts/CreateAlertByReference", &t, &body)
        .await
        .json();
    assert_eq!(b["id"], a["id"]);
    assert_eq!(b["lastEventTime"], "2026-11-21T10:00:00.0000000Z");
    // Resolved: the next one is a new alert.
    let id = a["id"].as_str().unwrap();
    assert_eq!(
        patch(&app, &t, id, &json!({"status": "Resolved"}))
            .await
            .status(),
        200
    );
    let c: Value = app
        .post_json("/api/alerts/CreateAlertByReference", &t, &body)
        .await
        .json();
    assert_ne!(c["id"], a["id"]);
}

#[tokio::test]
async fn create_alert_by_reference_refuses_bad_bodies_and_unknown_events() {
    let app = spawn_app().await;
    let t = writer(&app);
    let machine = machine_id("sales-lt-0402");
    let post = |body: Value| {
        let (app, t) = (&app, t.clone());
        async move {
            app.post_json("/api/alerts/CreateAlertByReference", &t, &body)
                .await
        }
    };
    let good = reference_body(&machine, "x", "2026-11-20T16:45:21Z");
    for key in [
        "eventTime",
        "reportId",
        "machineId",
        "severity",
        "title",
        "description",
        "recommendedAction",
        "category",
    ] {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(key);
        assert_error_message(
            post(b).await,
            400,
            "MissingRequiredParameter",
            &format!("Parameter {key} is missing"),
        );
    }
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    assert_error(
        post(with("severity", json!("Informational"))).await,
        400,
        "InvalidInput",
    );
    assert_error(
        post(with("category", json!("Bogus"))).await,
        400,
        "InvalidInput",
    );
    assert_error(
        post(with("eventTime", json!("yesterday"))).await,
        400,
        "InvalidInput",
    );
    assert_error(
        post(with("reportId", json!(20776))).await,
        400,
        "InvalidRequestBody",
    );
    assert_error_containing(
        post(with("machineId", json!("no-such-host"))).await,
        404,
        "ResourceNotFound",
        "No event with reportId 20776",
    );
    // An event after the emulator's now does not exist yet.
    assert_error(
        post(with("eventTime", json!("2999-01-01T00:00:00Z"))).await,
        404,
        "ResourceNotFound",
    );
}

fn finance_user(app: &TestApp, scopes: &str) -> String {
    app.token_with(TokenSpec {
        scp: Some(scopes.into()),
        upn: Some("finance.responder@contoso.com".into()),
        ttl_secs: 86_400,
        ..TokenSpec::default()
    })
}

#[tokio::test]
async fn a_delegated_user_sees_only_alerts_on_its_device_groups() {
    let app = spawn_app().await;
    let t = finance_user(&app, "Alert.Read Alert.ReadWrite Machine.Read");
    let body = list(&app, &t, "").await;
    let finance: Vec<String> = FIXTURE
        .iter()
        .filter(|a| {
            let n = a["computerDnsName"].as_str().unwrap();
            n.starts_with("fin-")
        })
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(finance.len(), 3);
    let mut got = ids(&body);
    got.sort();
    let mut want = finance.clone();
    want.sort();
    assert_eq!(got, want);
    // An alert outside its groups: 404 everywhere, as if it did not exist.
    let dc = alert_on("dc01");
    assert_error(
        app.get(&format!("/api/alerts/{dc}"), &t).await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        app.get(&format!("/api/alerts/{dc}/machine"), &t).await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        app.get("/api/machines/dc01/alerts", &t).await,
        404,
        "ResourceNotFound",
    );
    assert_eq!(
        app.get(&format!("/api/alerts/{}", finance[0]), &t)
            .await
            .status(),
        200
    );
    // Updating needs the "Alerts investigation" portal permission, which this user lacks.
    let r = patch(&app, &t, &finance[0], &json!({"status": "InProgress"})).await;
    assert_error_containing(r, 403, "Forbidden", "Alerts investigation");
    // A user no fixture names has every group and role: its PATCH is signed with its UPN.
    let anyone = app.token_with(TokenSpec {
        scp: Some("Alert.ReadWrite".into()),
        upn: Some("analyst2@contoso.com".into()),
        ..TokenSpec::default()
    });
    let r = patch(&app, &anyone, &dc, &json!({"comment": "mine"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let a: Value = r.json();
    assert_eq!(a["comments"][0]["createdBy"], "analyst2@contoso.com");
}

#[tokio::test]
async fn a_change_in_one_tenant_is_not_seen_in_another() {
    let app = spawn_app().await;
    let (ta, tb) = (fresh_tenant(), fresh_tenant());
    let token = |tenant: &str| {
        app.token_with(TokenSpec {
            tenant: tenant.to_owned(),
            roles: vec!["Alert.ReadWrite.All".into()],
            ttl_secs: 86_400,
            ..TokenSpec::default()
        })
    };
    let (a, b) = (token(&ta), token(&tb));
    let id = alert_on("exec-lt-0001");
    let r = patch(
        &app,
        &a,
        &id,
        &json!({"status": "Resolved", "comment": "A only"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let x: Value = r.json();
    assert_eq!(x["aadTenantId"], ta.as_str());
    let y: Value = app.get(&format!("/api/alerts/{id}"), &b).await.json();
    assert_eq!(y["status"], "New");
    assert_eq!(y["comments"], json!([]));
    assert_eq!(y["aadTenantId"], tb.as_str());
    // A raised alert too.
    let r = app
        .send(
            Req::post(format!("/_mock/alerts?tenant={ta}"))
                .json(&json!({"machineId": "exec-lt-0001"})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let raised: Value = r.json();
    let rid = raised["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/alerts/{rid}"), &a).await.status(),
        200
    );
    assert_error(
        app.get(&format!("/api/alerts/{rid}"), &b).await,
        404,
        "ResourceNotFound",
    );
    // A reset forgets the tenant's alert changes.
    let r = app
        .send(Req::post(format!("/_mock/reset?tenant={ta}")))
        .await;
    assert_eq!(r.status(), 204);
    let z: Value = app.get(&format!("/api/alerts/{id}"), &a).await.json();
    assert_eq!(z["status"], "New");
}

#[tokio::test]
async fn the_control_plane_raises_an_alert_on_a_machine_by_any_alias() {
    let app = spawn_app().await;
    let t = reader(&app);
    let machine = machine_id("fin-lt-0187");
    let aad = fleet()
        .into_iter()
        .find(|m| m["id"] == machine.as_str())
        .unwrap()["aadDeviceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .send(Req::post("/_mock/alerts").json(&json!({
            "machineId": aad, "title": "Ransomware detonated", "severity": "High",
            "category": "Ransomware", "mitreTechniques": ["T1486"],
            "evidence": [{"entityType": "Ip", "ipAddress": "203.0.113.9"}]
        })))
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let a: Value = r.json();
    assert_eq!(a["machineId"], machine.as_str());
    assert_eq!(a["computerDnsName"], "fin-lt-0187.contoso.com");
    assert_eq!(a["rbacGroupName"], "Finance");
    assert_eq!(a["severity"], "High");
    assert_eq!(a["status"], "New");
    assert_eq!(a["aadTenantId"], DEV_TENANT);
    assert_eq!(a["evidence"][0]["ipAddress"], "203.0.113.9");
    assert_eq!(a["evidence"][0]["sha1"], Value::Null);
    let now = app.mock_get("/_mock/clock").await["now"].clone();
    assert_eq!(a["alertCreationTime"], now);
    let id = a["id"].as_str().unwrap();
    let got: Value = app.get(&format!("/api/alerts/{id}"), &t).await.json();
    assert_eq!(got["title"], "Ransomware detonated");
    let l = list(&app, &t, "?$filter=status eq 'New'&$top=1").await;
    assert_eq!(ids(&l), vec![id.to_owned()]);
    let m = app
        .get("/api/machines/fin-lt-0187/alerts", &t)
        .await
        .json::<Value>();
    assert!(ids(&m).contains(&id.to_owned()));
    // Defaults, and bad input.
    let r = app
        .send(Req::post("/_mock/alerts").json(&json!({"machineId": "dc02"})))
        .await;
    assert_eq!(r.status(), 201);
    let d: Value = r.json();
    assert_eq!(d["severity"], "Medium");
    assert_eq!(d["category"], "SuspiciousActivity");
    assert_ne!(d["id"], a["id"]);
    let raise = |body: Value| {
        let app = &app;
        async move { app.send(Req::post("/_mock/alerts").json(&body)).await }
    };
    assert_error(
        raise(json!({"title": "x"})).await,
        400,
        "MissingRequiredParameter",
    );
    assert_error(
        raise(json!({"machineId": "nope"})).await,
        404,
        "ResourceNotFound",
    );
    assert_error_containing(
        raise(json!({"machineId": "dc02", "id": "x"})).await,
        400,
        "InvalidInput",
        "id is set by the emulator",
    );
    assert_error_containing(
        raise(json!({"machineId": "dc02", "severity": "Severe"})).await,
        400,
        "InvalidInput",
        "severity",
    );
    assert_error(
        raise(json!({"machineId": "dc02", "bogus": 1})).await,
        400,
        "InvalidInput",
    );
    let r = app
        .send(Req::post("/_mock/alerts?tenant=not a tenant").json(&json!({"machineId": "dc02"})))
        .await;
    assert_error(r, 400, "InvalidInput");
}

#[tokio::test]
async fn alert_changes_are_published_on_the_live_state_stream() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let client = app.tcp_client();
    let mut res = client
        .get(format!(
            "{}/_mock/events?types=alert.raised,alert.updated",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    let mut next = async || -> (String, Value) {
        loop {
            if let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() || name == "ready" {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), res.chunk())
                .await
                .expect("an event within 5 s")
                .unwrap()
                .expect("the stream stays open");
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    let r = app
        .send(Req::post("/_mock/alerts").json(&json!({"machineId": "dc01", "title": "Fired"})))
        .await;
    assert_eq!(r.status(), 201);
    let raised: Value = r.json();
    let (kind, data) = next().await;
    assert_eq!(kind, "alert.raised");
    assert_eq!(data["type"], "alert.raised");
    assert_eq!(data["alertId"], raised["id"]);
    assert_eq!(data["machineId"], machine_id("dc01"));
    assert_eq!(data["title"], "Fired");
    assert_eq!(data["status"], "New");
    assert_eq!(data["tenant"], DEV_TENANT);
    let t = writer(&app);
    let id = raised["id"].as_str().unwrap();
    let r = patch(&app, &t, id, &json!({"status": "Resolved"})).await;
    assert_eq!(r.status(), 200);
    let (kind, data) = next().await;
    assert_eq!(kind, "alert.updated");
    assert_eq!(data["alertId"], id);
    assert_eq!(data["status"], "Resolved");
}

/// A fresh fixtures folder with the embedded machines.
fn machines_folder() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-alerts-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("machines.json"), defender_mock::DEFAULT_MACHINES).unwrap();
    dir
}

/// A fixtures folder with the embedded machines and `alerts`.
fn folder(alerts: &str) -> std::path::PathBuf {
    let dir = machines_folder();
    std::fs::write(dir.join("alerts.json"), alerts).unwrap();
    dir
}

fn load(dir: &std::path::Path) -> Result<Emulator, String> {
    Emulator::new(&Config {
        fixtures: Some(dir.to_owned()),
        ..Config::for_tests()
    })
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_fixtures_folder_loads_its_alerts_json_and_names_a_bad_alert() {
    // alerts.json is not read as a machine file, and its alerts are served.
    let mut one = FIXTURE[0].clone();
    one["id"] = json!("da1_1");
    let dir = folder(&json!([one]).to_string());
    let emulator = load(&dir).expect("loads");
    assert_eq!(emulator.fleet_size(), fleet().len());
    // An unknown machine: the file, the alert and the field are named.
    let mut bad = FIXTURE[0].clone();
    bad["machineId"] = json!("ab".repeat(20));
    let dir = folder(&json!({"alerts": [FIXTURE[1], bad]}).to_string());
    let e = load(&dir).unwrap_err();
    assert!(e.contains("alerts.json"), "{e}");
    assert!(
        e.contains(&format!(
            "alert #1 ({})",
            FIXTURE[0]["id"].as_str().unwrap()
        )),
        "{e}"
    );
    assert!(e.contains("field `machineId`"), "{e}");
    assert!(e.contains("no fixture machine"), "{e}");
    // A bad value names its field; a duplicate id is refused.
    let mut bad = FIXTURE[0].clone();
    bad["severity"] = json!("Severe");
    let e = load(&folder(&json!([bad]).to_string())).unwrap_err();
    assert!(e.contains("field `severity`"), "{e}");
    let e = load(&folder(&json!([FIXTURE[0], FIXTURE[0]]).to_string())).unwrap_err();
    assert!(e.contains("duplicate alert id"), "{e}");
    let e = load(&folder("{\"machines\": []}")).unwrap_err();
    assert!(e.contains("expected an array of alerts"), "{e}");
}

#[tokio::test]
async fn a_fixtures_folder_without_alerts_json_serves_no_alert() {
    let emulator = load(&machines_folder()).unwrap();
    let token = emulator
        .mint(TokenSpec {
            roles: vec!["Alert.Read.All".into()],
            ..TokenSpec::default()
        })
        .unwrap();
    let res = tower::ServiceExt::oneshot(
        emulator.router(),
        axum::http::Request::get("/api/alerts")
            .header("authorization", format!("Bearer {token}"))
            .header("host", IN_PROCESS_HOST)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["value"], json!([]));
}
