//! `GET /api/machines` with OData: every filterable field, `$select`, `$orderby`, paging.

use std::collections::BTreeSet;

use defender_mock::{Config, RateLimitMode as Mode, RateLimits as Settings};
use serde_json::Value;

use crate::helpers::*;

fn fleet_json() -> Vec<Value> {
    serde_json::from_str(include_str!("../../fixtures/machines.json")).unwrap()
}

/// A server without throttling: these tests make many calls to one endpoint.
async fn unthrottled(page_size: usize, fleet: Vec<Value>) -> TestApp {
    let rate_limits = Settings {
        mode: Mode::Off,
        ..Settings::default()
    };
    spawn_config(
        Config {
            rate_limits,
            page_size,
            ..Config::for_tests()
        },
        fleet,
    )
    .await
}

async fn list(app: &TestApp, query: &str) -> TestResponse {
    app.get(&format!("/api/machines?{query}"), &app.admin_token())
        .await
}

async fn ids(app: &TestApp, filter: &str) -> BTreeSet<String> {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("$filter", filter)
        .finish();
    let r = list(app, &q).await;
    assert_eq!(r.status(), 200, "{filter}: {}", r.text());
    let b: Value = r.json();
    b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn expect(pred: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    fleet_json()
        .iter()
        .filter(|m| pred(m))
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn s<'a>(m: &'a Value, k: &str) -> &'a str {
    m[k].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_filterable_machine_field_filters() {
    let app = unthrottled(10_000, fleet()).await;
    let dc01 = machine_id("dc01");
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (
            "computerDnsName eq 'dc01.corp.contoso.com'".into(),
            expect(|m| s(m, "computerDnsName") == "dc01.corp.contoso.com"),
        ),
        (
            "startswith(computerDnsName,'eng-')".into(),
            expect(|m| s(m, "computerDnsName").starts_with("eng-")),
        ),
        (format!("id eq '{dc01}'"), [dc01.clone()].into()),
        (
            format!("id in ('{dc01}','{}')", machine_id("dc02")),
            [dc01.clone(), machine_id("dc02")].into(),
        ),
        (
            "version eq '22H2'".into(),
            expect(|m| s(m, "version") == "22H2"),
        ),
        (
            "deviceValue eq 'High'".into(),
            expect(|m| s(m, "deviceValue") == "High"),
        ),
        (
            "aadDeviceId eq null".into(),
            expect(|m| m["aadDeviceId"].is_null()),
        ),
        (
            "machineTags/any(tag: tag eq 'Tier0')".into(),
            expect(|m| {
                m["machineTags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == "Tier0")
            }),
        ),
        (
            "lastSeen gt 2026-11-25T00:00:00Z".into(),
            expect(|m| s(m, "lastSeen") > "2026-11-25T00:00:00"),
        ),
        (
            "lastSeen le 2026-11-24".into(),
            expect(|m| s(m, "lastSeen") < "2026-11-24T00:00:00.0000001"),
        ),
        (
            "exposureLevel eq 'High'".into(),
            expect(|m| s(m, "exposureLevel") == "High"),
        ),
        (
            "onboardingStatus eq 'Onboarded'".into(),
            expect(|m| s(m, "onboardingStatus") == "Onboarded"),
        ),
        (
            "lastIpAddress eq '10.70.12.21'".into(),
            expect(|m| s(m, "lastIpAddress") == "10.70.12.21"),
        ),
        (
            "healthStatus ne 'Active'".into(),
            expect(|m| s(m, "healthStatus") != "Active"),
        ),
        (
            "osPlatform eq 'Windows10' or osPlatform eq 'Windows11'".into(),
            expect(|m| s(m, "osPlatform").starts_with("Windows1")),
        ),
        (
            "riskScore eq 'High' and healthStatus eq 'Active'".into(),
            expect(|m| s(m, "riskScore") == "High" && s(m, "healthStatus") == "Active"),
        ),
        (
            "rbacGroupId eq 150".into(),
            expect(|m| m["rbacGroupId"] == 150),
        ),
        (
            "rbacGroupId ge 145 and not (rbacGroupId eq 150)".into(),
            expect(|m| m["rbacGroupId"].as_i64().unwrap() >= 145 && m["rbacGroupId"] != 150),
        ),
    ];
    for (filter, want) in cases {
        assert!(
            !want.is_empty() || filter.contains("eq null"),
            "a case that matches nothing proves little: {filter}"
        );
        assert_eq!(ids(&app, &filter).await, want, "{filter}");
    }
}

#[tokio::test]
async fn select_orderby_top_and_count() {
    let app = unthrottled(10_000, fleet()).await;
    let r = list(
        &app,
        "$select=id,computerDnsName&$orderby=computerDnsName%20desc&$top=3&$count=true",
    )
    .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Machines", app.url)
    );
    assert_eq!(b["@odata.count"], 24);
    assert!(b.get("@odata.nextLink").is_none(), "$top never pages");
    let rows = b["value"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let mut names: Vec<String> = fleet_json()
        .iter()
        .map(|m| s(m, "computerDnsName").to_owned())
        .collect();
    names.sort();
    names.reverse();
    for (row, name) in rows.iter().zip(&names) {
        assert_eq!(
            row.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "computerDnsName"]
        );
        assert_eq!(row["computerDnsName"], name.as_str());
    }
}

fn fleet_of_25() -> Vec<Value> {
    let mut fleet = fleet();
    let mut extra = fleet[0].clone();
    extra["id"] = "f".repeat(40).into();
    extra["computerDnsName"] = "extra-25.contoso.com".into();
    fleet.push(extra);
    assert_eq!(fleet.len(), 25);
    fleet
}

#[tokio::test]
async fn paging_25_machines_at_page_size_10_through_next_link() {
    let app = unthrottled(10, fleet_of_25()).await;
    let mut seen = Vec::new();
    let mut url = "/api/machines?$filter=healthStatus%20ne%20'Unknown'&$count=true".to_owned();
    let mut pages = 0;
    loop {
        let r = app.get(&url, &app.admin_token()).await;
        assert_eq!(r.status(), 200);
        let b: Value = r.json();
        assert_eq!(b["@odata.count"], 25);
        seen.extend(
            b["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match b.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(
                    next.contains("%24filter=") || next.contains("$filter="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        25,
        "no row repeated"
    );
}

#[tokio::test]
async fn paging_through_skip_and_top_until_a_short_page() {
    let app = unthrottled(10, fleet_of_25()).await;
    let mut seen = Vec::new();
    for skip in (0..).step_by(10) {
        let b: Value = list(&app, &format!("$top=10&$skip={skip}")).await.json();
        let rows = b["value"].as_array().unwrap();
        assert!(b.get("@odata.nextLink").is_none());
        seen.extend(rows.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        if rows.len() < 10 {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 25);
}

#[tokio::test]
async fn odata_errors_are_400_odata_error_saying_what_is_wrong() {
    let app = unthrottled(10_000, fleet()).await;
    let cases = [
        ("$filter=healthStatus%20eq", "expected a literal"),
        (
            "$filter=nosuchfield%20eq%20'x'",
            "Could not find a property named 'nosuchfield'",
        ),
        (
            "$filter=rbacGroupName%20eq%20'Finance'",
            "cannot be used in the $filter",
        ),
        ("$filter=rbacGroupId%20eq%20'140'", "incompatible types"),
        ("$filter=lastSeen%20gt%20'soon'", "DateTimeOffset"),
        ("$top=10001", "limit of '10000'"),
        ("$orderby=nosuch", "nosuch"),
        ("$select=id,nosuch", "nosuch"),
    ];
    for (q, needle) in cases {
        let b = assert_error(list(&app, q).await, 400, "ODataError");
        let msg = b["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{q}: {msg}");
    }
    let r = list(&app, "$stop=2").await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json();
    assert_eq!(
        b,
        serde_json::json!({"error": {"code": "", "message": "The query specified in the URI is not valid. Custom query option '$stop' that starts with '$' is not supported.", "details": []}})
    );
}
