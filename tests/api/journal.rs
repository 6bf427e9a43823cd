//! The request journal (issue 10, item 1): every filter, the verification count, truncation,
//! secrets never recorded, and the bound held under ten times its size.

use defender_mock::{
    dev::{APP_ID, APP_SECRET, USER_PASSWORD, USER_UPN},
    Config,
};
use serde_json::{json, Value};

use crate::helpers::*;

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let v = app.mock_get(&format!("/_mock/requests{query}")).await;
    v["value"].as_array().unwrap().clone()
}

async fn count(app: &TestApp, query: &str) -> u64 {
    app.mock_get(&format!("/_mock/requests/count{query}")).await["count"]
        .as_u64()
        .unwrap()
}

async fn journal_app(size: usize) -> TestApp {
    let config = Config {
        journal_size: size,
        ..Config::for_tests()
    };
    spawn_config(config, fleet()).await
}

#[tokio::test]
async fn an_api_request_is_recorded_with_who_what_and_answer() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let r = app.isolate(&token, &m).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let action: Value = r.json();
    let rid = r.headers()["request-id"].to_str().unwrap().to_owned();
    let all = entries(&app, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let e = &all[0];
    assert_eq!(e["method"], "POST");
    assert_eq!(e["path"], format!("/api/machines/{m}/isolate"));
    assert_eq!(e["route"], "/api/machines/{id}/isolate");
    assert_eq!(e["status"], 201);
    assert_eq!(e["requestId"], rid);
    assert_eq!(e["tenant"], defender_mock::dev::TENANT_ID);
    assert_eq!(e["appId"], APP_ID);
    assert_eq!(e["user"], Value::Null);
    // The permission that granted access (the token also holds Machine.Read.All).
    assert_eq!(e["permissions"], json!(["Machine.Isolate"]));
    assert_eq!(e["machineId"], m);
    assert_eq!(e["actionId"], action["id"]);
    assert_eq!(e["faultRule"], Value::Null);
    assert_eq!(e["bodyTruncated"], false);
    assert!(e["requestBody"]
        .as_str()
        .unwrap()
        .contains("isolate by test"));
    assert!(e["latencyMs"].as_f64().unwrap() >= 0.0);
    assert!(e["id"].as_u64().unwrap() >= 1);
    // The control plane itself is not journaled.
    assert_eq!(count(&app, "").await, 1);
}

#[tokio::test]
async fn each_filter_selects_what_it_names() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let (a, b) = (machine_id("fin-lt-0187"), machine_id("dc01"));
    let other = fresh_tenant();
    app.isolate(&token, &a).await; // 1: POST isolate a, 201
    app.get_machine(&token, &b).await; // 2: GET b, 200
    app.get_machine(&token, "no-such-machine").await; // 3: GET, 404
    app.isolate(&app.tenant_token(&other), &a).await; // 4: other tenant
    app.send(Req::get("/api/machines")).await; // 5: 401, no tenant
    let first_id = entries(&app, "").await[0]["id"].as_u64().unwrap();

    assert_eq!(count(&app, "?method=post").await, 2);
    assert_eq!(count(&app, "?method=GET").await, 3);
    assert_eq!(count(&app, "?path=/api/machines/*/isolate").await, 2);
    assert_eq!(count(&app, "?path=/API/Machines/*").await, 2);
    assert_eq!(count(&app, "?path=/api/**").await, 5);
    assert_eq!(count(&app, "?status=404").await, 1);
    assert_eq!(count(&app, "?status=4xx").await, 2);
    assert_eq!(count(&app, "?status=2xx").await, 3);
    assert_eq!(count(&app, &format!("?tenant={other}")).await, 1);
    assert_eq!(
        count(&app, &format!("?tenant={}", defender_mock::dev::TENANT_ID)).await,
        3
    );
    assert_eq!(count(&app, &format!("?machine={a}")).await, 2);
    assert_eq!(
        count(&app, &format!("?machine={}", b.to_uppercase())).await,
        1
    );
    assert_eq!(count(&app, &format!("?since={first_id}")).await, 4);
    let now = app.mock_get("/_mock/clock").await["now"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(count(&app, &format!("?since={now}")).await, 5);
    app.advance(60.0).await;
    app.get_machine(&token, &b).await; // 6: a minute later
    assert_eq!(count(&app, &format!("?since={now}&method=GET")).await, 4);
    let later = app.mock_get("/_mock/clock").await["now"]
        .as_str()
        .unwrap()
        .to_owned();
    let recent = entries(&app, &format!("?since={later}")).await;
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["machineId"], b);
    // limit keeps the newest, oldest first.
    let last_two = entries(&app, "?limit=2").await;
    assert_eq!(last_two.len(), 2);
    assert_eq!(last_two[0]["status"], 401);
    assert_eq!(last_two[1]["path"], format!("/api/machines/{b}"));
    assert!(last_two[0]["id"].as_u64() < last_two[1]["id"].as_u64());
    // Filters combine.
    assert_eq!(
        count(&app, &format!("?method=POST&machine={a}&tenant={other}")).await,
        1
    );
    // A bad filter is a Defender 400 naming it.
    for q in [
        "?status=abc",
        "?since=yesterday",
        "?limit=-1",
        "?tenant=not a tenant",
        "?colour=red",
        "?path=api",
    ] {
        let r = app.send(Req::get(format!("/_mock/requests{q}"))).await;
        assert_error(r, 400, "InvalidInput");
    }
}

#[tokio::test]
async fn the_count_verifies_exactly_one_unisolate_for_a_machine() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let (m, other) = (machine_id("fin-lt-0187"), machine_id("dc01"));
    app.isolate(&token, &m).await;
    app.advance(3600.0).await;
    app.unisolate(&token, &other).await;
    let query = format!("?method=POST&path=/api/machines/*/unisolate&machine={m}");
    assert_eq!(count(&app, &query).await, 0);
    let r = app.unisolate(&token, &m).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(count(&app, &query).await, 1);
    // The action id comes from the answer, so a test can follow it.
    let e = entries(&app, &query).await;
    assert_eq!(e[0]["actionId"], r.json::<Value>()["id"]);
}

#[tokio::test]
async fn delete_clears_all_or_one_tenant() {
    let app = spawn_app().await;
    let t = fresh_tenant();
    app.get_machine(&app.admin_token(), &machine_id("fin-lt-0187"))
        .await;
    app.get_machine(&app.tenant_token(&t), &machine_id("fin-lt-0187"))
        .await;
    let r = app
        .send(Req::new(
            axum::http::Method::DELETE,
            format!("/_mock/requests?tenant={t}"),
        ))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(count(&app, "").await, 1);
    assert_eq!(count(&app, &format!("?tenant={t}")).await, 0);
    let r = app
        .send(Req::new(axum::http::Method::DELETE, "/_mock/requests"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(count(&app, "").await, 0);
    // Ids keep increasing after a clear.
    app.get_machine(&app.admin_token(), &machine_id("fin-lt-0187"))
        .await;
    assert!(entries(&app, "").await[0]["id"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn a_long_body_is_truncated_to_4_kib_and_flagged() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let comment = "é".repeat(3000); // 6000 bytes, 2-byte characters
    let m = machine_id("fin-lt-0187");
    let r = app
        .post_json(
            &format!("/api/machines/{m}/isolate"),
            &token,
            &json!({"Comment": comment, "IsolationType": "Full"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let e = &entries(&app, "").await[0];
    assert_eq!(e["bodyTruncated"], true);
    let body = e["requestBody"].as_str().unwrap();
    assert!(body.len() <= 4096, "{}", body.len());
    assert!(body.len() >= 4000, "{}", body.len());
    assert!(body.starts_with("{\"Comment\":\"éé"), "{body:.40}");
    // A short body is whole.
    app.unisolate(&token, &m).await;
    let e = &entries(&app, "?limit=1").await[0];
    assert_eq!(e["bodyTruncated"], false);
    assert_eq!(e["requestBody"], r#"{"Comment":"unisolate by test"}"#);
}

#[tokio::test]
async fn no_entry_holds_a_token_or_a_secret() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let v2 = format!("/{tenant}/oauth2/v2.0/token");
    let r = app
        .send(Req::post(&v2).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP_ID),
            ("client_secret", APP_SECRET),
            ("scope", SCOPE),
        ]))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let issued = r.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .send(Req::post(&v2).form(&[
            ("grant_type", "password"),
            ("client_id", APP_ID),
            ("username", USER_UPN),
            ("password", USER_PASSWORD),
            ("scope", SCOPE),
        ]))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ";
    app.send(Req::post(&v2).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", APP_ID),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
        ("scope", SCOPE),
    ]))
    .await;
    // A secret in the query string, and one in a JSON body.
    app.send(
        Req::post(format!("{v2}?client_secret=query-secret-value"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let api_token = app.admin_token();
    app.get_machine(&issued, &machine_id("fin-lt-0187")).await;
    app.post_json(
        &format!("/api/machines/{}/isolate", machine_id("fin-lt-0187")),
        &api_token,
        &json!({"Comment": "x", "password": "json-password-value"}),
    )
    .await;
    let all = entries(&app, "").await;
    assert_eq!(all.len(), 6, "{all:?}");
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        APP_SECRET,
        USER_PASSWORD,
        assertion,
        "c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ",
        "query-secret-value",
        "json-password-value",
        issued.as_str(),
        api_token.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} is in the journal: {text}");
    }
    // The token endpoint entries still say who asked, in which tenant.
    let token_calls = entries(&app, "?path=/*/oauth2/v2.0/token").await;
    assert_eq!(token_calls.len(), 4);
    assert_eq!(token_calls[0]["tenant"], tenant);
    assert_eq!(token_calls[0]["appId"], APP_ID);
    assert_eq!(token_calls[0]["route"], "/{tenant}/oauth2/v2.0/token");
    assert_eq!(token_calls[1]["user"], USER_UPN);
    assert!(token_calls[0]["requestBody"]
        .as_str()
        .unwrap()
        .contains("client_secret=***"));
    assert!(token_calls[3]["query"]
        .as_str()
        .unwrap()
        .contains("client_secret=***"));
    // A delegated call records the user and its scopes.
    let delegated = r.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get_machine(&delegated, &machine_id("fin-lt-0187"))
        .await;
    let e = &entries(&app, "?limit=1").await[0];
    assert_eq!(e["user"], USER_UPN);
    assert!(!e["permissions"].as_array().unwrap().is_empty(), "{e}");
}

#[tokio::test]
async fn the_bound_holds_under_ten_times_its_size() {
    let size = 50;
    let app = journal_app(size).await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let big = "x".repeat(20_000);
    for i in 0..size * 10 {
        let r = app
            .post_json(
                &format!("/api/machines/{m}/runantivirusscan"),
                &token,
                &json!({"Comment": big, "ScanType": "Quick", "n": i}),
            )
            .await;
        assert!(r.status().is_client_error() || r.status().is_success());
    }
    let all = entries(&app, "").await;
    assert_eq!(all.len(), size);
    assert_eq!(count(&app, "").await, size as u64);
    // The newest are kept, oldest first, each body within 4 KiB.
    let ids: Vec<u64> = all.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(*ids.last().unwrap(), (size * 10) as u64);
    assert!(ids.windows(2).all(|w| w[0] + 1 == w[1]));
    assert!(all
        .iter()
        .all(|e| e["requestBody"].as_str().unwrap().len() <= 4096 && e["bodyTruncated"] == true));
    let bytes = serde_json::to_string(&all).unwrap().len();
    assert!(bytes < size * 6 * 1024, "{bytes} bytes for {size} entries");
}

#[tokio::test]
async fn size_zero_turns_the_journal_off() {
    let app = journal_app(0).await;
    app.get_machine(&app.admin_token(), &machine_id("fin-lt-0187"))
        .await;
    assert_eq!(count(&app, "").await, 0);
}
