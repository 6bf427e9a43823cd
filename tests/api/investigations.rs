//! Automated investigations: startInvestigation (by id, computer name or aadDeviceId), the
//! lifecycle on the emulator clock, list (OData) and get, permissions, device groups, tenant
//! isolation, and `investigation.updated` on the live state stream.

use defender_mock::{dev, Config, TokenSpec};
use serde_json::{json, Value};

use crate::{helpers::*, indicators::Sse};

const LONG_TTL: i64 = 30 * 86_400;
const WIRE_KEYS: &[&str] = &[
    "id",
    "startTime",
    "endTime",
    "state",
    "cancelledBy",
    "statusDetails",
    "machineId",
    "computerDnsName",
    "triggeringAlertId",
];

/// An app token with `roles` in `tenant`.
fn token(app: &TestApp, tenant: &str, roles: &[&str]) -> String {
    app.token_with(TokenSpec {
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ttl_secs: LONG_TTL,
        ..TokenSpec::default()
    })
}

/// A token that may start and read investigations, in a fresh tenant.
fn writer(app: &TestApp) -> String {
    token(app, &fresh_tenant(), &["Alert.ReadWrite.All"])
}

/// A delegated token for `upn` with `scp`.
fn user(app: &TestApp, upn: &str, scp: &str) -> String {
    app.token_with(TokenSpec {
        scp: Some(scp.into()),
        upn: Some(upn.into()),
        ttl_secs: LONG_TTL,
        ..TokenSpec::default()
    })
}

async fn start(app: &TestApp, t: &str, machine: &str) -> TestResponse {
    app.post_json(
        &format!("/api/machines/{machine}/startInvestigation"),
        t,
        &json!({"Comment": "Test investigation"}),
    )
    .await
}

async fn start_ok(app: &TestApp, t: &str, machine: &str) -> Value {
    let r = start(app, t, machine).await;
    assert_eq!(r.status(), 201, "{machine}: {}", r.text());
    r.json()
}

async fn get(app: &TestApp, t: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/investigations/{id}"), t).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json()
}

async fn list(app: &TestApp, t: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/investigations{query}"), t).await;
    assert_eq!(r.status(), 200, "{query}: {}", r.text());
    r.json()
}

fn ids(list: &Value) -> Vec<String> {
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn aad_device_id(name: &str) -> String {
    fleet()
        .iter()
        .find(|m| m["computerDnsName"].as_str().unwrap().starts_with(name))
        .unwrap()["aadDeviceId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn start_answers_201_with_a_queued_investigation() {
    let app = spawn_app().await;
    let t = writer(&app);
    let id = machine_id("fin-lt-0142");
    let r = start(&app, &t, &id).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(r.headers()["odata-version"], "4.0");
    let text = r.text();
    let i: Value = r.json();
    assert_eq!(
        i["@odata.context"],
        format!("{}/api/$metadata#Investigations/$entity", app.url)
    );
    let keys: Vec<&str> = i
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "@odata.context")
        .collect();
    assert_eq!(keys.len(), WIRE_KEYS.len());
    let mut positions: Vec<(usize, &str)> = WIRE_KEYS
        .iter()
        .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), *k))
        .collect();
    positions.sort();
    assert_eq!(
        positions.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        WIRE_KEYS
    );
    assert_eq!(i["id"], "1");
    assert_eq!(i["state"], "Queued");
    assert_eq!(i["machineId"], id);
    assert_eq!(i["computerDnsName"], "fin-lt-0142.contoso.com");
    assert_eq!(i["endTime"], Value::Null);
    assert_eq!(i["cancelledBy"], Value::Null);
    assert_eq!(i["statusDetails"], Value::Null);
    assert_eq!(i["triggeringAlertId"], Value::Null);
    // Whole seconds, as the investigation pages show them.
    let start = i["startTime"].as_str().unwrap();
    assert_eq!(start.len(), "2020-01-06T13:05:15Z".len(), "{start}");
    assert!(start.ends_with('Z') && !start.contains('.'), "{start}");
    let got = get(&app, &t, "1").await;
    assert_eq!(got["startTime"], i["startTime"]);
}

#[tokio::test]
async fn the_lifecycle_follows_the_emulator_clock_and_the_device_simulation() {
    let app = spawn_app().await;
    let t = writer(&app);
    // Default device: picked up after 10 s, done 50 s later.
    let ok = start_ok(&app, &t, &machine_id("fin-lt-0142")).await;
    // Device whose actions fail.
    let failing = start_ok(&app, &t, &machine_id("sales-lt-0415")).await;
    // Offline device: never picked up, terminated by the system after three days.
    let offline = start_ok(&app, &t, &machine_id("sales-lt-0402")).await;
    let state = |v: &Value| v["state"].as_str().unwrap().to_owned();
    app.advance(9.0).await;
    assert_eq!(
        state(&get(&app, &t, ok["id"].as_str().unwrap()).await),
        "Queued"
    );
    app.advance(1.0).await;
    assert_eq!(
        state(&get(&app, &t, ok["id"].as_str().unwrap()).await),
        "Running"
    );
    app.advance(50.0).await;
    let done = get(&app, &t, ok["id"].as_str().unwrap()).await;
    assert_eq!(state(&done), "Benign");
    let end = done["endTime"].as_str().unwrap();
    assert!(end > ok["startTime"].as_str().unwrap(), "{end}");
    assert_eq!(
        state(&get(&app, &t, failing["id"].as_str().unwrap()).await),
        "Failed"
    );
    assert_eq!(
        state(&get(&app, &t, offline["id"].as_str().unwrap()).await),
        "Queued"
    );
    app.advance(3.0 * 86_400.0).await;
    assert_eq!(
        state(&get(&app, &t, offline["id"].as_str().unwrap()).await),
        "TerminatedBySystem"
    );
    // A finished investigation leaves room for the next on its machine.
    let again = start_ok(&app, &t, &machine_id("fin-lt-0142")).await;
    assert_eq!(again["id"], "4");
}

#[tokio::test]
async fn a_machine_is_found_by_id_computer_name_or_aad_device_id() {
    let app = spawn_app().await;
    let t = writer(&app);
    let cases = [
        ("fin-lt-0142", machine_id("fin-lt-0142").to_uppercase()),
        ("hr-dt-0031", "hr-dt-0031.contoso.com".to_owned()),
        ("hr-dt-0044", "HR-DT-0044".to_owned()),
        ("exec-lt-0001", aad_device_id("exec-lt-0001")),
        ("eng-lt-0311", aad_device_id("eng-lt-0311").to_uppercase()),
    ];
    for (name, alias) in cases {
        let i = start_ok(&app, &t, &alias).await;
        assert_eq!(i["machineId"], machine_id(name), "{alias}");
    }
}

#[tokio::test]
async fn start_refuses_unknown_machines_bad_bodies_unsupported_os_and_a_second_run() {
    let app = spawn_app().await;
    let t = writer(&app);
    assert_error_message(
        start(&app, &t, "no-such-machine").await,
        404,
        "ResourceNotFound",
        "Machine no-such-machine was not found",
    );
    let id = machine_id("fin-lt-0142");
    let path = format!("/api/machines/{id}/startInvestigation");
    assert_error_message(
        app.post_json(&path, &t, &json!({"comment": "lower case key"}))
            .await,
        400,
        "MissingRequiredParameter",
        "Parameter Comment is missing",
    );
    assert_error(
        app.post_raw(&path, Some(&t), None, "").await,
        400,
        "InvalidRequestBody",
    );
    assert_error(
        app.post_json(&path, &t, &json!({"Comment": "x".repeat(4097)}))
            .await,
        400,
        "InvalidRequestBody",
    );
    for (name, platform) in [
        ("eng-ws-0219", "Windows10 1607"),
        ("sql-prod-01", "WindowsServer2016 1607"),
        ("web-lnx-01", "Ubuntu 22.04"),
        ("design-mbp-0012", "macOS 14.5"),
    ] {
        assert_error_message(
            start(&app, &t, &machine_id(name)).await,
            400,
            "OsPlatformNotSupported",
            &format!("OS Platform {platform} isn't supported for automated investigation."),
        );
    }
    for name in ["eng-ws-0230", "dc02", "dc01"] {
        start_ok(&app, &t, &machine_id(name)).await;
    }
    start_ok(&app, &t, &id).await;
    assert_error_message(
        start(&app, &t, &id).await,
        400,
        "ActiveRequestAlreadyExists",
        &format!("Investigation 4 is already running on machine {id}."),
    );
    // Nothing but the four started ones exists.
    assert_eq!(ids(&list(&app, &t, "").await), ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn permissions_name_the_accepted_ones() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let reader = token(&app, &tenant, &["Alert.Read.All"]);
    let machines = token(
        &app,
        &tenant,
        &["Machine.Read.All", "Machine.Isolate", "Ti.ReadWrite.All"],
    );
    let id = machine_id("fin-lt-0142");
    assert_error_message(
        start(&app, &reader, &id).await,
        403,
        "Forbidden",
        "The application does not have any of the required application permissions (Alert.ReadWrite.All) to access the resource.",
    );
    let read_msg = "The application does not have any of the required application permissions (Alert.Read.All, Alert.ReadWrite.All) to access the resource.";
    assert_error_message(
        app.get("/api/investigations", &machines).await,
        403,
        "Forbidden",
        read_msg,
    );
    assert_error_message(
        app.get("/api/investigations/1", &machines).await,
        403,
        "Forbidden",
        read_msg,
    );
    start_ok(&app, &token(&app, &tenant, &["Alert.ReadWrite.All"]), &id).await;
    assert_eq!(ids(&list(&app, &reader, "").await), ["1"]);
    assert_error_message(
        start(&app, &user(&app, dev::USER_UPN, "Alert.Read"), &id).await,
        403,
        "Forbidden",
        "The user does not have any of the required delegated permissions (Alert.ReadWrite) to access the resource.",
    );
    // A user without the portal role may read, not start.
    let auditor = user(&app, "auditor@contoso.com", "Alert.ReadWrite");
    assert_error_message(
        start(&app, &auditor, &id).await,
        403,
        "Forbidden",
        "The user auditor@contoso.com does not have the 'Active remediation actions' portal permission required for this action.",
    );
    assert_eq!(app.get("/api/investigations", &auditor).await.status(), 200);
}

#[tokio::test]
async fn a_delegated_user_sees_and_starts_only_within_its_device_groups() {
    let app = spawn_app().await;
    let admin = token(&app, dev::TENANT_ID, &["Alert.ReadWrite.All"]);
    let hr = start_ok(&app, &admin, &machine_id("hr-dt-0031")).await;
    let finance = user(&app, "finance.responder@contoso.com", "Alert.ReadWrite");
    let mine = start_ok(&app, &finance, &machine_id("fin-lt-0142")).await;
    assert_error(
        start(&app, &finance, &machine_id("hr-dt-0044")).await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        start(&app, &finance, "hr-dt-0044").await,
        404,
        "ResourceNotFound",
    );
    let seen = list(&app, &finance, "").await;
    assert_eq!(ids(&seen), [mine["id"].as_str().unwrap()]);
    assert_error_message(
        app.get(
            &format!("/api/investigations/{}", hr["id"].as_str().unwrap()),
            &finance,
        )
        .await,
        404,
        "ResourceNotFound",
        &format!(
            "Investigation {} was not found.",
            hr["id"].as_str().unwrap()
        ),
    );
    assert_eq!(ids(&list(&app, &admin, "").await).len(), 2);
}

#[tokio::test]
async fn the_list_takes_odata_options() {
    let app = spawn_app().await;
    let t = writer(&app);
    start_ok(&app, &t, &machine_id("fin-lt-0142")).await;
    app.advance(30.0).await;
    start_ok(&app, &t, &machine_id("hr-dt-0031")).await;
    start_ok(&app, &t, &machine_id("dc01")).await;
    let q = |f: &str| {
        format!(
            "?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", f)
                .finish()
        )
    };
    let dc01 = machine_id("dc01");
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("state eq 'Running'".into(), vec!["1"]),
        ("state eq 'Queued'".into(), vec!["2", "3"]),
        (format!("machineId eq '{dc01}'"), vec!["3"]),
        ("id eq '2'".into(), vec!["2"]),
        ("triggeringAlertId eq null".into(), vec!["1", "2", "3"]),
    ];
    for (filter, want) in &cases {
        assert_eq!(ids(&list(&app, &t, &q(filter)).await), *want, "{filter}");
    }
    let first = list(&app, &t, "").await["value"][0]["startTime"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ids(&list(&app, &t, &q(&format!("startTime gt {first}"))).await),
        ["2", "3"]
    );
    let page = list(&app, &t, "?$top=1&$skip=1&$count=true").await;
    assert_eq!(ids(&page), ["2"]);
    assert_eq!(page["@odata.count"], 3);
    assert_eq!(
        page["@odata.context"],
        format!("{}/api/$metadata#Investigations", app.url)
    );
    let sorted = list(&app, &t, "?$orderby=startTime%20desc,id&$select=id,state").await;
    assert_eq!(ids(&sorted), ["2", "3", "1"]);
    assert_eq!(
        sorted["value"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "state"]
    );
    assert_error(
        app.get(
            &format!("/api/investigations{}", q("computerDnsName eq 'x'")),
            &t,
        )
        .await,
        400,
        "ODataError",
    );
    assert_error(
        app.get("/api/investigations/99", &t).await,
        404,
        "ResourceNotFound",
    );
}

#[tokio::test]
async fn tenants_do_not_share_investigations() {
    let app = spawn_app().await;
    let tenant_a = fresh_tenant();
    let a = token(&app, &tenant_a, &["Alert.ReadWrite.All"]);
    let b = writer(&app);
    start_ok(&app, &a, &machine_id("fin-lt-0142")).await;
    assert_eq!(ids(&list(&app, &b, "").await), Vec::<String>::new());
    assert_error(
        app.get("/api/investigations/1", &b).await,
        404,
        "ResourceNotFound",
    );
    // The same machine is free in tenant B.
    assert_eq!(
        start_ok(&app, &b, &machine_id("fin-lt-0142")).await["id"],
        "1"
    );
}

#[tokio::test]
async fn changes_are_published_as_investigation_updated() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let tenant = fresh_tenant();
    let t = token(&app, &tenant, &["Alert.ReadWrite.All"]);
    let mut events = Sse::open(
        &app,
        &format!("?tenant={tenant}&types=investigation.updated"),
    )
    .await;
    let id = machine_id("fin-lt-0142");
    start_ok(&app, &t, &id).await;
    // One advance past the whole lifecycle: each transition at the time it fell due.
    app.advance(3600.0).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (kind, e) = events.next().await;
        assert_eq!(kind, "investigation.updated");
        assert_eq!(e["tenant"], tenant);
        assert_eq!(e["investigationId"], "1");
        assert_eq!(e["machineId"], id);
        seen.push(e["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["Queued", "Running", "Benign"]);
}

#[tokio::test]
async fn start_investigation_allows_50_calls_an_hour() {
    let app = spawn_app().await;
    let t = writer(&app);
    let id = machine_id("fin-lt-0142");
    // Refused calls count too: the limit is on calls, not on investigations.
    for n in 0..50 {
        let status = start(&app, &t, &id).await.status().as_u16();
        assert_eq!(status, if n == 0 { 201 } else { 400 }, "call {n}");
    }
    let r = start(&app, &t, &id).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, 429, "TooManyRequests");
    // Reads are not limited by it; an hour later there is room again.
    assert_eq!(app.get("/api/investigations", &t).await.status(), 200);
    app.advance(3600.0).await;
    assert_eq!(start(&app, &t, &id).await.status(), 201);
}
