//! Indicators: submit or update, import, list (OData), delete, batch delete; every validation
//! rule, the permissions and who sees what, tenant isolation, expiry on the emulator clock, the
//! 15,000 bound, and `indicator.changed` on the live state stream.

use std::time::Duration;

use axum::http::Method;
use defender_mock::{dev, Config, RateLimitMode, RateLimits, TokenSpec};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::helpers::*;

const LONG_TTL: i64 = 30 * 86_400;
const SHA1: &str = "220e7d15b011d7fac48f2bd61114db1022197f7f";
const SHA256: &str = "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd";

/// The Indicator's properties in the real service's order.
const WIRE_KEYS: &[&str] = &[
    "id",
    "indicatorValue",
    "indicatorType",
    "action",
    "createdBy",
    "severity",
    "category",
    "application",
    "educateUrl",
    "bypassDurationHours",
    "title",
    "description",
    "recommendedActions",
    "creationTimeDateTimeUtc",
    "expirationTime",
    "lastUpdateTime",
    "lastUpdatedBy",
    "rbacGroupNames",
    "rbacGroupIds",
    "notificationId",
    "notificationBody",
    "version",
    "mitreTechniques",
    "historicalDetection",
    "lookBackPeriod",
    "generateAlert",
    "additionalInfo",
    "createdByDisplayName",
    "externalId",
    "createdBySource",
    "certificateInfo",
];

/// An app token with `roles` in `tenant`, for app `app_id`.
fn app_token(app: &TestApp, tenant: &str, app_id: &str, roles: &[&str]) -> String {
    app.token_with(TokenSpec {
        tenant: tenant.to_owned(),
        app_id: app_id.to_owned(),
        app_name: Some(format!("app {app_id}")),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ttl_secs: LONG_TTL,
        ..TokenSpec::default()
    })
}

/// A `Ti.ReadWrite.All` token for a fresh tenant, and the tenant.
fn ti_all(app: &TestApp) -> (String, String) {
    let tenant = fresh_tenant();
    let t = app_token(app, &tenant, dev::APP_ID, &["Ti.ReadWrite.All"]);
    (t, tenant)
}

fn sha1(n: usize) -> String {
    format!("{n:040x}")
}

fn body(value: &str, kind: &str, action: &str) -> Value {
    json!({"indicatorValue": value, "indicatorType": kind, "action": action,
           "title": "test", "description": "from a test"})
}

async fn submit(app: &TestApp, token: &str, b: &Value) -> TestResponse {
    app.post_json("/api/indicators", token, b).await
}

async fn submit_ok(app: &TestApp, token: &str, b: &Value) -> Value {
    let r = submit(app, token, b).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/api/indicators{query}"), token).await;
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

async fn delete(app: &TestApp, token: &str, id: &str) -> TestResponse {
    app.send(Req::new(Method::DELETE, format!("/api/indicators/{id}")).bearer(token))
        .await
}

/// The emulator's `now` plus `seconds`, as RFC 3339.
async fn clock_plus(app: &TestApp, seconds: i64) -> String {
    let now = app.mock_get("/_mock/clock").await["now"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = OffsetDateTime::parse(&now, &Rfc3339).unwrap() + time::Duration::seconds(seconds);
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn a_submit_answers_200_with_the_real_wire_shape() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let mut b = body(SHA1, "FileSha1", "AlertAndBlock");
    b["application"] = json!("demo-test");
    b["rbacGroupNames"] = json!(["Finance", "NoSuchGroup"]);
    b["recommendedActions"] = json!("nothing");
    let r = submit(&app, &t, &b).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.headers()["odata-version"], "4.0");
    let text = r.text();
    let i: Value = r.json();
    assert_eq!(
        i["@odata.context"],
        format!("{}/api/$metadata#Indicators/$entity", app.url)
    );
    // Every property, in order, nulls included.
    let mut keys: Vec<&str> = i.as_object().unwrap().keys().map(String::as_str).collect();
    keys.retain(|k| *k != "@odata.context");
    let mut in_text: Vec<(usize, &str)> = WIRE_KEYS
        .iter()
        .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), *k))
        .collect();
    in_text.sort();
    assert_eq!(
        in_text.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
        WIRE_KEYS
    );
    assert_eq!(keys.len(), WIRE_KEYS.len());
    assert_eq!(i["id"], "1");
    assert_eq!(i["indicatorValue"], SHA1);
    assert_eq!(i["indicatorType"], "FileSha1");
    assert_eq!(i["action"], "AlertAndBlock");
    assert_eq!(i["severity"], "Informational");
    assert_eq!(i["application"], "demo-test");
    assert_eq!(i["createdBy"], dev::APP_ID);
    assert_eq!(i["createdByDisplayName"], format!("app {}", dev::APP_ID));
    assert_eq!(i["createdBySource"], "PublicApi");
    assert_eq!(i["lastUpdatedBy"], Value::Null);
    assert_eq!(i["expirationTime"], Value::Null);
    assert_eq!(i["generateAlert"], false);
    assert_eq!(i["category"], 1);
    assert_eq!(i["rbacGroupNames"], json!(["Finance", "NoSuchGroup"]));
    // The Finance group's id from the fleet; an unknown name has none.
    let finance_id = fleet()
        .iter()
        .find(|m| m["rbacGroupName"] == "Finance")
        .map(|m| m["rbacGroupId"].to_string())
        .unwrap();
    assert_eq!(i["rbacGroupIds"], json!([finance_id]));
    assert_eq!(i["creationTimeDateTimeUtc"], i["lastUpdateTime"]);
}

#[tokio::test]
async fn the_same_type_and_value_updates_the_indicator() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let mut b = body(SHA256, "FileSha256", "Alert");
    b["application"] = json!("first");
    let first = submit_ok(&app, &t, &b).await;
    app.advance(60.0).await;
    // Values match in any case; `application` only sets on creation.
    let mut b = body(&SHA256.to_uppercase(), "FileSha256", "Block");
    b["title"] = json!("second");
    b["application"] = json!("ignored");
    b["severity"] = json!("high");
    let second = submit_ok(&app, &t, &b).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["title"], "second");
    assert_eq!(second["action"], "Block");
    assert_eq!(second["severity"], "High");
    assert_eq!(second["application"], "first");
    assert_eq!(second["lastUpdatedBy"], dev::APP_ID);
    assert_eq!(
        second["creationTimeDateTimeUtc"],
        first["creationTimeDateTimeUtc"]
    );
    assert_ne!(second["lastUpdateTime"], first["lastUpdateTime"]);
    // Another type is another indicator.
    let other = submit_ok(&app, &t, &body(SHA1, "FileSha1", "Block")).await;
    assert_eq!(other["id"], "2");
    assert_eq!(ids(&list(&app, &t, "").await), ["1", "2"]);
}

#[tokio::test]
async fn every_validation_rule_is_a_400_with_its_code() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let ok = body(SHA1, "FileSha1", "Block");
    for key in [
        "indicatorValue",
        "indicatorType",
        "action",
        "title",
        "description",
    ] {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(key);
        assert_error_message(
            submit(&app, &t, &b).await,
            400,
            "MissingRequiredParameter",
            &format!("Parameter {key} is missing"),
        );
    }
    let past = clock_plus(&app, -60).await;
    let past_msg = format!("The expiration time {past} is in the past: it must be later than now.");
    let sha1_msg = format!("Hash value {SHA1} is invalid.");
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"indicatorType": "FileSha2"}),
            "InvalidInput",
            "Invalid input FileSha2",
        ),
        (
            json!({"action": "Quarantine"}),
            "InvalidInput",
            "Invalid input Quarantine",
        ),
        (
            json!({"severity": "Critical"}),
            "InvalidInput",
            "Invalid input Critical",
        ),
        (
            json!({"indicatorValue": "xyz"}),
            "InvalidHashValue",
            "Hash value xyz is invalid.",
        ),
        (
            json!({"indicatorType": "FileSha256"}),
            "InvalidHashValue",
            &sha1_msg,
        ),
        (
            json!({"indicatorType": "FileMd5", "indicatorValue": "0123456789abcdef0123456789abcdeg"}),
            "InvalidHashValue",
            "Hash value 0123456789abcdef0123456789abcdeg is invalid.",
        ),
        (
            json!({"indicatorType": "IpAddress", "indicatorValue": "10.0.0.0/8"}),
            "InvalidIpAddress",
            "IP address 10.0.0.0/8 is invalid.",
        ),
        (
            json!({"indicatorType": "IpAddress", "indicatorValue": "2001:db8::1"}),
            "InvalidIpAddress",
            "IP address 2001:db8::1 is invalid.",
        ),
        (
            json!({"indicatorType": "DomainName", "indicatorValue": "*.contoso.com"}),
            "InvalidDomainName",
            "Domain name *.contoso.com is invalid.",
        ),
        (
            json!({"indicatorType": "Url", "indicatorValue": "ftp://contoso.com/x"}),
            "InvalidUrl",
            "URL ftp://contoso.com/x is invalid.",
        ),
        (
            json!({"action": "Audit"}),
            "BadRequest",
            "The GenerateAlert parameter must be set to true when the action is Audit.",
        ),
        (
            json!({"indicatorType": "CertificateThumbprint", "action": "Warn"}),
            "BadRequest",
            "Action Warn is not supported for indicator type CertificateThumbprint.",
        ),
        (
            json!({"indicatorType": "DomainName", "indicatorValue": "contoso.com", "action": "BlockAndRemediate"}),
            "BadRequest",
            "Action BlockAndRemediate is not supported for indicator type DomainName.",
        ),
        (
            json!({"educateUrl": "https://contoso.com/why"}),
            "BadRequest",
            "educateUrl is supported for Block and Warn action types for URL indicators only.",
        ),
        (
            json!({"expirationTime": past.clone()}),
            "BadRequest",
            &past_msg,
        ),
        (
            json!({"generateAlert": "maybe"}),
            "InvalidInput",
            "Invalid input maybe",
        ),
        (
            json!({"title": "x".repeat(4097)}),
            "InvalidRequestBody",
            "Parameter title is 4097 characters long; at most 4096 are allowed",
        ),
    ];
    for (patch, code, message) in cases {
        let mut b = ok.clone();
        b.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        assert_error_message(submit(&app, &t, &b).await, 400, code, message);
    }
    assert_error_containing(
        submit(
            &app,
            &t,
            &json!({"indicatorValue": SHA1, "indicatorType": "FileSha1", "action": "Block",
                    "title": "t", "description": "d", "expirationTime": "tomorrow"}),
        )
        .await,
        400,
        "InvalidInput",
        "expirationTime must be an ISO 8601 date-time",
    );
    assert_error(
        app.post_raw("/api/indicators", Some(&t), Some("application/json"), "{")
            .await,
        400,
        "InvalidRequestBody",
    );
    // Nothing was stored by any of them.
    assert_eq!(ids(&list(&app, &t, "").await), Vec::<String>::new());
}

#[tokio::test]
async fn accepted_forms_audit_with_alert_ips_domains_urls_and_pascal_case_keys() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let mut b = body("10.1.2.3", "IpAddress", "Audit");
    b["generateAlert"] = json!("True");
    assert_eq!(submit_ok(&app, &t, &b).await["generateAlert"], true);
    submit_ok(
        &app,
        &t,
        &body("2001:4860:4860:0:0:0:0:8888", "IpAddress", "Block"),
    )
    .await;
    submit_ok(&app, &t, &body("contoso.com", "DomainName", "Warn")).await;
    let mut b = body("https://contoso.com/block", "Url", "Block");
    b["educateUrl"] = json!("https://intranet.contoso.com/why");
    b["rbacGroupNames"] = json!("Finance, HR");
    let url = submit_ok(&app, &t, &b).await;
    assert_eq!(url["educateUrl"], "https://intranet.contoso.com/why");
    assert_eq!(url["rbacGroupNames"], json!(["Finance", "HR"]));
    let pascal = json!({"IndicatorValue": SHA1, "IndicatorType": "filesha1", "Action": "allowed",
                        "Title": "t", "Description": "d", "Severity": "Low"});
    let i = submit_ok(&app, &t, &pascal).await;
    assert_eq!(i["indicatorType"], "FileSha1");
    assert_eq!(i["action"], "Allowed");
    assert_eq!(i["severity"], "Low");
}

#[tokio::test]
async fn every_endpoint_needs_a_ti_permission() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.Read.All", "Machine.Isolate", "Alert.ReadWrite.All"]);
    let app_msg = "The application does not have any of the required application permissions (Ti.ReadWrite, Ti.ReadWrite.All) to access the resource.";
    let calls = [
        Req::get("/api/indicators"),
        Req::post("/api/indicators").json(&body(SHA1, "FileSha1", "Block")),
        Req::post("/api/indicators/import").json(&json!({"Indicators": []})),
        Req::new(Method::DELETE, "/api/indicators/1"),
        Req::post("/api/indicators/BatchDelete").json(&json!({"IndicatorIds": ["1"]})),
    ];
    for req in calls {
        assert_error_message(app.send(req.bearer(&t)).await, 403, "Forbidden", app_msg);
    }
    let user = app.token_with(TokenSpec {
        scp: Some("Machine.Read".into()),
        upn: Some(dev::USER_UPN.into()),
        ttl_secs: LONG_TTL,
        ..TokenSpec::default()
    });
    assert_error_message(
        app.get("/api/indicators", &user).await,
        403,
        "Forbidden",
        "The user does not have any of the required delegated permissions (Ti.ReadWrite) to access the resource.",
    );
    // Delegated Ti.ReadWrite works, and the user is the creator.
    let user = app.token_with(TokenSpec {
        scp: Some("Ti.ReadWrite".into()),
        upn: Some(dev::USER_UPN.into()),
        ttl_secs: LONG_TTL,
        ..TokenSpec::default()
    });
    let i = submit_ok(&app, &user, &body(SHA1, "FileSha1", "Block")).await;
    assert_eq!(i["createdBy"], dev::USER_UPN);
    assert_eq!(i["createdByDisplayName"], dev::USER_UPN);
}

#[tokio::test]
async fn ti_readwrite_sees_only_its_own_app_s_indicators() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let (a, b) = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    );
    let ta = app_token(&app, &tenant, a, &["Ti.ReadWrite"]);
    let tb = app_token(&app, &tenant, b, &["Ti.ReadWrite"]);
    let all = app_token(&app, &tenant, b, &["Ti.ReadWrite.All"]);
    let ia = submit_ok(&app, &ta, &body(SHA1, "FileSha1", "Block")).await;
    let ib = submit_ok(&app, &tb, &body(SHA256, "FileSha256", "Block")).await;
    assert_eq!(
        ids(&list(&app, &ta, "").await),
        [ia["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&list(&app, &tb, "").await),
        [ib["id"].as_str().unwrap()]
    );
    assert_eq!(ids(&list(&app, &all, "").await), ["1", "2"]);
    // B can neither delete nor update A's indicator.
    assert_error(delete(&app, &tb, "1").await, 404, "ResourceNotFound");
    assert_error_containing(
        submit(&app, &tb, &body(SHA1, "FileSha1", "Allowed")).await,
        403,
        "Forbidden",
        "created by another application",
    );
    // With Ti.ReadWrite.All it can.
    assert_eq!(
        submit_ok(&app, &all, &body(SHA1, "FileSha1", "Allowed")).await["action"],
        "Allowed"
    );
    assert_eq!(delete(&app, &all, "1").await.status(), 204);
}

#[tokio::test]
async fn the_list_takes_odata_options() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    for (n, (action, severity)) in [
        ("Block", "High"),
        ("Allowed", "Low"),
        ("Block", "Medium"),
        ("AlertAndBlock", "High"),
    ]
    .iter()
    .enumerate()
    {
        let mut b = body(&sha1(n + 1), "FileSha1", action);
        b["severity"] = json!(severity);
        b["title"] = json!(format!("title {n}"));
        submit_ok(&app, &t, &b).await;
    }
    submit_ok(&app, &t, &body("contoso.com", "DomainName", "Block")).await;
    let q = |f: &str| {
        format!(
            "?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("$filter", f)
                .finish()
        )
    };
    let cases: &[(&str, &[&str])] = &[
        ("action eq 'Block'", &["1", "3", "5"]),
        ("severity eq 'High'", &["1", "4"]),
        ("indicatorType eq 'DomainName'", &["5"]),
        ("indicatorValue eq 'contoso.com'", &["5"]),
        ("action eq 'Block' and severity eq 'Medium'", &["3"]),
        ("title eq 'title 1'", &["2"]),
        ("generateAlert eq false", &["1", "2", "3", "4", "5"]),
        ("expirationTime eq null", &["1", "2", "3", "4", "5"]),
        (
            "createdBy eq 'd3fe0d3f-0000-4000-8000-00000000a991'",
            &["1", "2", "3", "4", "5"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(ids(&list(&app, &t, &q(filter)).await), *want, "{filter}");
    }
    let page = list(&app, &t, "?$top=2&$skip=1&$count=true").await;
    assert_eq!(ids(&page), ["2", "3"]);
    assert_eq!(page["@odata.count"], 5);
    let sorted = list(&app, &t, "?$orderby=title%20desc&$select=id,title").await;
    assert_eq!(ids(&sorted), ["4", "3", "2", "1", "5"]);
    assert_eq!(
        sorted["value"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "title"]
    );
    assert_eq!(
        sorted["@odata.context"],
        format!("{}/api/$metadata#Indicators", app.url)
    );
    assert_error(
        app.get(&format!("/api/indicators{}", q("description eq 'x'")), &t)
            .await,
        400,
        "ODataError",
    );
    assert_error(
        app.get(&format!("/api/indicators{}", q("action eq 'Nope'")), &t)
            .await,
        400,
        "ODataError",
    );
}

#[tokio::test]
async fn an_expired_indicator_leaves_the_list_when_the_clock_passes_it() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let mut b = body(SHA1, "FileSha1", "Block");
    b["expirationTime"] = json!(clock_plus(&app, 3600).await);
    let i = submit_ok(&app, &t, &b).await;
    assert!(i["expirationTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ids(&list(&app, &t, "").await), ["1"]);
    app.advance(3599.0).await;
    assert_eq!(ids(&list(&app, &t, "").await), ["1"]);
    app.advance(1.0).await;
    assert_eq!(ids(&list(&app, &t, "").await), Vec::<String>::new());
    assert_error(delete(&app, &t, "1").await, 404, "ResourceNotFound");
    // The same value again is a new indicator.
    let again = submit_ok(&app, &t, &body(SHA1, "FileSha1", "Block")).await;
    assert_eq!(again["id"], "2");
}

#[tokio::test]
async fn import_answers_one_result_per_indicator() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    let r = app
        .post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": [
                body(SHA1, "FileSha1", "Alert"),
                body("not-a-hash", "FileSha256", "Alert"),
                42,
                body(SHA256, "FileSha256", "Alert"),
            ]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let v: Value = r.json();
    assert_eq!(
        v,
        json!({"value": [
            {"id": "1", "indicator": SHA1, "isFailed": false, "failureReason": null},
            {"id": null, "indicator": "not-a-hash", "isFailed": true,
             "failureReason": "Hash value not-a-hash is invalid."},
            {"id": null, "indicator": null, "isFailed": true,
             "failureReason": "Each indicator must be a JSON object"},
            {"id": "2", "indicator": SHA256, "isFailed": false, "failureReason": null},
        ]})
    );
    assert_eq!(ids(&list(&app, &t, "").await), ["1", "2"]);
    // Importing the same again updates.
    let v: Value = app
        .post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": [body(SHA1, "FileSha1", "Block")]}),
        )
        .await
        .json();
    assert_eq!(v["value"][0]["id"], "1");
    // Body errors.
    let too_many: Vec<Value> = (0..501)
        .map(|n| body(&sha1(n), "FileSha1", "Block"))
        .collect();
    assert_error_message(
        app.post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": too_many}),
        )
        .await,
        400,
        "MaximumBatchSizeExceeded",
        "Maximum batch size exceeded. Received: 501, allowed: 500.",
    );
    assert_error_message(
        app.post_json("/api/indicators/import", &t, &json!({"indicators": []}))
            .await,
        400,
        "InvalidRequestBody",
        "Parameter Indicators must hold at least one item",
    );
    assert_error_message(
        app.post_json("/api/indicators/import", &t, &json!({}))
            .await,
        400,
        "MissingRequiredParameter",
        "Parameter Indicators is missing",
    );
}

#[tokio::test]
async fn delete_and_batch_delete() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    for n in 1..=4 {
        submit_ok(&app, &t, &body(&sha1(n), "FileSha1", "Block")).await;
    }
    assert_eq!(delete(&app, &t, "2").await.status(), 204);
    assert_error_message(
        delete(&app, &t, "2").await,
        404,
        "ResourceNotFound",
        "Indicator 2 was not found.",
    );
    assert_error(delete(&app, &t, "abc").await, 400, "InvalidInput");
    // One unknown id: 404 and nothing deleted.
    let batch = |ids: Value| {
        Req::post("/api/indicators/BatchDelete")
            .bearer(&t)
            .json(&json!({ "IndicatorIds": ids }))
    };
    assert_error_message(
        app.send(batch(json!(["1", "2", "3"]))).await,
        404,
        "ResourceNotFound",
        "Indicator 2 was not found.",
    );
    assert_eq!(ids(&list(&app, &t, "").await), ["1", "3", "4"]);
    assert_error(
        app.send(batch(json!(["1", "x"]))).await,
        400,
        "InvalidInput",
    );
    assert_error(app.send(batch(json!([]))).await, 400, "InvalidRequestBody");
    let many: Vec<String> = (1..=501).map(|n| n.to_string()).collect();
    assert_error(
        app.send(batch(json!(many))).await,
        400,
        "MaximumBatchSizeExceeded",
    );
    // The documented spelling, and the all-lower-case one.
    let r = app
        .send(
            Req::post("/api/Indicators/batchdelete")
                .bearer(&t)
                .json(&json!({"IndicatorIds": ["1", "3"]})),
        )
        .await;
    assert_eq!(r.status(), 204, "{}", r.text());
    assert_eq!(ids(&list(&app, &t, "").await), ["4"]);
}

#[tokio::test]
async fn tenants_do_not_share_indicators() {
    let app = spawn_app().await;
    let (ta, tenant_a) = ti_all(&app);
    let (tb, _) = ti_all(&app);
    submit_ok(&app, &ta, &body(SHA1, "FileSha1", "Block")).await;
    assert_eq!(ids(&list(&app, &tb, "").await), Vec::<String>::new());
    assert_error(delete(&app, &tb, "1").await, 404, "ResourceNotFound");
    // Tenant B's first indicator is its own id 1.
    let b = submit_ok(&app, &tb, &body(SHA1, "FileSha1", "Allowed")).await;
    assert_eq!(b["id"], "1");
    assert_eq!(list(&app, &ta, "").await["value"][0]["action"], "Block");
    // A reset forgets tenant A's indicators, not B's.
    let r = app
        .send(Req::post(format!("/_mock/reset?tenant={tenant_a}")))
        .await;
    assert!(r.status().is_success(), "{}", r.text());
    assert_eq!(ids(&list(&app, &ta, "").await), Vec::<String>::new());
    assert_eq!(ids(&list(&app, &tb, "").await), ["1"]);
}

#[tokio::test]
async fn a_tenant_holds_at_most_15000_active_indicators() {
    let rate_limits = RateLimits {
        mode: RateLimitMode::Off,
        ..RateLimits::default()
    };
    let app = spawn_config(
        Config {
            rate_limits,
            ..Config::for_tests()
        },
        fleet(),
    )
    .await;
    let (t, _) = ti_all(&app);
    for chunk in 0..30 {
        let items: Vec<Value> = (0..500)
            .map(|n| body(&sha1(chunk * 500 + n), "FileSha1", "Block"))
            .collect();
        let v: Value = app
            .post_json(
                "/api/indicators/import",
                &t,
                &json!({ "Indicators": items }),
            )
            .await
            .json();
        assert!(v["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["isFailed"] == false));
    }
    let limit = "There's a limit of 15000 active indicators per tenant. Delete indicators before submitting new ones.";
    assert_error_message(
        submit(&app, &t, &body(&sha1(20_000), "FileSha1", "Block")).await,
        400,
        "BadRequest",
        limit,
    );
    // An update at the limit is fine; after a delete there is room for one more.
    submit_ok(&app, &t, &body(&sha1(0), "FileSha1", "Allowed")).await;
    assert_eq!(delete(&app, &t, "1").await.status(), 204);
    submit_ok(&app, &t, &body(&sha1(20_000), "FileSha1", "Block")).await;
    let v: Value = app
        .post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": [body(&sha1(20_001), "FileSha1", "Block")]}),
        )
        .await
        .json();
    assert_eq!(v["value"][0]["failureReason"], limit);
    assert_eq!(
        list(&app, &t, "?$count=true&$top=0").await["@odata.count"],
        15_000
    );
}

/// An open `/_mock/events` stream, read event by event.
pub struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    pub async fn open(app: &TestApp, query: &str) -> Sse {
        let res = app
            .tcp_client()
            .get(format!("{}/_mock/events{query}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut s = Sse {
            res,
            buf: String::new(),
        };
        assert_eq!(s.next().await.0, "ready");
        s
    }

    /// The next event's name and data (fails after 5 s without one).
    pub async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.res.chunk())
                .await
                .expect("an event within 5 s")
                .unwrap()
                .expect("the stream stays open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn changes_are_published_as_indicator_changed() {
    let app = spawn_tcp(Config::for_tests(), fleet()).await;
    let (t, tenant) = ti_all(&app);
    let mut events = Sse::open(&app, &format!("?tenant={tenant}&types=indicator.changed")).await;
    submit_ok(&app, &t, &body(SHA1, "FileSha1", "Block")).await;
    submit_ok(&app, &t, &body(SHA1, "FileSha1", "Allowed")).await;
    assert_eq!(delete(&app, &t, "1").await.status(), 204);
    for deleted in [false, false, true] {
        let (kind, e) = events.next().await;
        assert_eq!(kind, "indicator.changed");
        assert_eq!(e["type"], "indicator.changed");
        assert_eq!(e["tenant"], tenant);
        assert_eq!(e["indicatorId"], "1");
        assert_eq!(e["deleted"], deleted);
    }
}

#[tokio::test]
async fn import_and_batch_delete_allow_30_calls_a_minute() {
    let app = spawn_app().await;
    let (t, _) = ti_all(&app);
    for n in 0..30 {
        let r = app
            .post_json(
                "/api/indicators/import",
                &t,
                &json!({"Indicators": [body(&sha1(n), "FileSha1", "Block")]}),
            )
            .await;
        assert_eq!(r.status(), 200, "call {n}: {}", r.text());
    }
    let r = app
        .post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": [body(SHA1, "FileSha1", "Block")]}),
        )
        .await;
    assert_error(r, 429, "TooManyRequests");
    // Submits have their own, larger budget.
    submit_ok(&app, &t, &body(SHA1, "FileSha1", "Block")).await;
    app.advance(60.0).await;
    let r = app
        .post_json(
            "/api/indicators/import",
            &t,
            &json!({"Indicators": [body(SHA256, "FileSha256", "Block")]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    for n in 1..=30 {
        let r = app
            .send(
                Req::post("/api/indicators/BatchDelete")
                    .bearer(&t)
                    .json(&json!({"IndicatorIds": [n.to_string()]})),
            )
            .await;
        assert_eq!(r.status(), 204, "call {n}: {}", r.text());
    }
    let r = app
        .send(
            Req::post("/api/indicators/BatchDelete")
                .bearer(&t)
                .json(&json!({"IndicatorIds": ["31"]})),
        )
        .await;
    assert_error(r, 429, "TooManyRequests");
}
