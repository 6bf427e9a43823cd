//! Fault injection (issue 10, item 3): error answers (Defender body on `/api/`, Entra's on the
//! token endpoints), delays, dropped connections seen as such by a real client over TCP, `times`
//! and `probability`, matching, and faulted requests in the journal with their rule id.

use std::time::{Duration, Instant};

use axum::http::Method;
use defender_mock::{dev::APP_ID, Config};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

async fn add_fault(app: &TestApp, rule: Value) -> Value {
    let r = app.send(Req::post("/_mock/faults").json(&rule)).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    r.json()
}

async fn rules(app: &TestApp) -> Vec<Value> {
    app.mock_get("/_mock/faults").await["value"]
        .as_array()
        .unwrap()
        .clone()
}

async fn last_entry(app: &TestApp) -> Value {
    app.mock_get("/_mock/requests?limit=1").await["value"][0].clone()
}

#[tokio::test]
async fn an_error_fault_answers_its_status_with_a_defender_body_then_stops_after_times() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let rule = add_fault(
        &app,
        json!({"match": {"method": "POST", "route": "/api/machines/{id}/isolate"},
               "action": {"kind": "error", "status": 503, "retryAfter": 7},
               "times": 2}),
    )
    .await;
    let id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(rule["remaining"], 2);
    assert_eq!(rule["hits"], 0);
    for _ in 0..2 {
        let r = app.isolate(&token, &m).await;
        assert_eq!(r.headers()["retry-after"], "7");
        let body = assert_error(r, 503, "ServiceUnavailable");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(&id),
            "{body}"
        );
        let e = last_entry(&app).await;
        assert_eq!(
            (e["status"].clone(), e["faultRule"].clone()),
            (json!(503), json!(id))
        );
    }
    // The third is served: the rule is spent, and nothing was isolated before.
    let r = app.isolate(&token, &m).await;
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(last_entry(&app).await["faultRule"], Value::Null);
    let listed = &rules(&app).await[0];
    assert_eq!(
        (listed["remaining"].clone(), listed["hits"].clone()),
        (json!(0), json!(2))
    );
    // Other routes were never matched.
    let r = app.get_machine(&token, &m).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_error_fault_takes_its_code_and_message() {
    let app = spawn_app().await;
    add_fault(
        &app,
        json!({"match": {"route": "/api/machines"},
               "action": {"kind": "error", "status": 429, "code": "TooManyRequests", "message": "Slow down"}}),
    )
    .await;
    let r = app.get("/api/machines", &app.admin_token()).await;
    assert_error_message(r, 429, "TooManyRequests", "Slow down");
    let r = app.get("/api/machines", &app.admin_token()).await;
    assert_eq!(r.status(), 429, "no times: every matching request");
}

#[tokio::test]
async fn an_error_fault_on_a_token_endpoint_answers_in_entra_shape() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let rule = add_fault(
        &app,
        json!({"match": {"route": "/{tenant}/oauth2/v2.0/token", "app": APP_ID, "tenant": tenant},
               "action": {"kind": "error", "status": 503}}),
    )
    .await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", APP_ID),
        ("client_secret", defender_mock::dev::APP_SECRET),
        ("scope", "https://api.securitycenter.microsoft.com/.default"),
    ];
    let r = app
        .send(Req::post(format!("/{tenant}/oauth2/v2.0/token")).form(&form))
        .await;
    assert_eq!(r.status(), 503, "{}", r.text());
    let b: Value = r.json();
    assert_eq!(b["error"], "temporarily_unavailable", "{b}");
    assert_eq!(b["error_codes"], json!([90033]));
    assert!(b["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90033: "));
    assert_eq!(b["trace_id"], r.headers()["request-id"].to_str().unwrap());
    assert_eq!(last_entry(&app).await["faultRule"], rule["id"]);
    // Another tenant, or another app, is not matched.
    let r = app
        .send(Req::post(format!("/{}/oauth2/v2.0/token", fresh_tenant())).form(&form))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let mut other_app = form;
    other_app[1] = ("client_id", "00000000-0000-4000-8000-000000000001");
    let r = app
        .send(Req::post(format!("/{tenant}/oauth2/v2.0/token")).form(&other_app))
        .await;
    assert_ne!(r.status(), 503, "{}", r.text());
}

#[tokio::test]
async fn rules_match_on_tenant_machine_and_app_of_api_calls() {
    let app = spawn_app().await;
    let (a, b) = (machine_id("fin-lt-0187"), machine_id("dc01"));
    let t = fresh_tenant();
    add_fault(
        &app,
        json!({"match": {"machine": a, "tenant": t}, "action": {"kind": "error", "status": 500}}),
    )
    .await;
    let token = app.tenant_token(&t);
    assert_error(
        app.get_machine(&token, &a).await,
        500,
        "InternalServerError",
    );
    assert_eq!(app.get_machine(&token, &b).await.status(), 200);
    assert_eq!(app.get_machine(&app.admin_token(), &a).await.status(), 200);
    let r = app.send(Req::new(Method::DELETE, "/_mock/faults")).await;
    assert_eq!(r.status(), 204);
    add_fault(
        &app,
        json!({"match": {"app": "someone-else", "route": "/api/**"}, "action": {"kind": "error", "status": 500}}),
    )
    .await;
    assert_eq!(app.get_machine(&token, &a).await.status(), 200);
    add_fault(
        &app,
        json!({"match": {"app": APP_ID, "route": "/API/machines/*"}, "action": {"kind": "error", "status": 502}}),
    )
    .await;
    assert_error(app.get_machine(&token, &a).await, 502, "BadGateway");
}

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_does() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let never = add_fault(
        &app,
        json!({"match": {"route": "/api/machines/{id}"}, "action": {"kind": "error", "status": 503}, "probability": 0}),
    )
    .await;
    for _ in 0..30 {
        assert_eq!(app.get_machine(&token, &m).await.status(), 200);
    }
    let always = add_fault(
        &app,
        json!({"match": {"route": "/api/machines/{id}"}, "action": {"kind": "error", "status": 504}, "probability": 1.0, "times": 5}),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(app.get_machine(&token, &m).await.status(), 504);
    }
    assert_eq!(app.get_machine(&token, &m).await.status(), 200);
    let listed = rules(&app).await;
    assert_eq!(listed[0]["id"], never["id"]);
    assert_eq!(listed[0]["hits"], 0);
    assert_eq!(listed[1]["id"], always["id"]);
    assert_eq!(listed[1]["hits"], 5);
}

#[tokio::test]
async fn a_delay_fault_holds_the_request_then_serves_it() {
    let app = spawn_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let rule = add_fault(
        &app,
        json!({"match": {"method": "get"}, "action": {"kind": "delay", "ms": 50}, "times": 1}),
    )
    .await;
    let started = Instant::now();
    let r = app.get_machine(&token, &m).await;
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), 200, "served normally after the delay");
    let e = last_entry(&app).await;
    assert_eq!(e["faultRule"], rule["id"]);
    assert!(e["latencyMs"].as_f64().unwrap() >= 50.0, "{e}");
    app.get_machine(&token, &m).await;
    assert_eq!(last_entry(&app).await["faultRule"], Value::Null);
}

/// Sends one raw HTTP/1.1 request and reads until the server closes or resets.
async fn raw_exchange(app: &TestApp, path: &str, token: &str) -> std::io::Result<Vec<u8>> {
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await?;
    let body = r#"{"Comment": "c", "IsolationType": "Full"}"#;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    read.expect("the server ended the connection")?;
    Ok(got)
}

async fn tcp_app() -> TestApp {
    spawn_tcp(Config::for_tests(), fleet()).await
}

#[tokio::test]
async fn a_reset_fault_resets_the_connection_without_a_response() {
    let app = tcp_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    let rule = add_fault(
        &app,
        json!({"match": {"route": "/api/machines/*/isolate"}, "action": {"kind": "drop", "mode": "reset"}, "times": 2}),
    )
    .await;
    let path = format!("/api/machines/{m}/isolate");
    let err = raw_exchange(&app, &path, &token)
        .await
        .expect_err("a reset, not a response");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    // A real HTTP client sees an error, not a response.
    let r = app
        .tcp_client()
        .post(format!("{}{path}", app.url))
        .bearer_auth(&token)
        .json(&json!({"Comment": "c", "IsolationType": "Full"}))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    let e = last_entry(&app).await;
    assert_eq!(
        (e["status"].clone(), e["faultRule"].clone()),
        (json!(0), rule["id"].clone())
    );
    // Spent: the next one is served, and the server is fine.
    let got = raw_exchange(&app, &path, &token).await.unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn a_close_fault_closes_the_connection_without_a_response() {
    let app = tcp_app().await;
    let token = app.admin_token();
    let m = machine_id("fin-lt-0187");
    add_fault(
        &app,
        json!({"match": {"route": "/api/machines/{id}/isolate"}, "action": {"kind": "drop", "mode": "close"}, "times": 2}),
    )
    .await;
    let path = format!("/api/machines/{m}/isolate");
    let got = raw_exchange(&app, &path, &token)
        .await
        .expect("a clean close");
    assert!(
        got.is_empty(),
        "no response: {}",
        String::from_utf8_lossy(&got)
    );
    let r = app
        .tcp_client()
        .post(format!("{}{path}", app.url))
        .bearer_auth(&token)
        .json(&json!({"Comment": "c", "IsolationType": "Full"}))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    let got = raw_exchange(&app, &path, &token).await.unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn rules_are_listed_deleted_and_checked() {
    let app = spawn_app().await;
    let a = add_fault(&app, json!({"action": {"kind": "delay", "ms": 1}})).await;
    let b = add_fault(
        &app,
        json!({"action": {"kind": "drop", "mode": "close"}, "probability": 0}),
    )
    .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["remaining"], Value::Null);
    assert_eq!(b["probability"], 0.0);
    assert_eq!(rules(&app).await.len(), 2);
    let del = |id: &str| Req::new(Method::DELETE, format!("/_mock/faults/{id}"));
    let r = app.send(del(a["id"].as_str().unwrap())).await;
    assert_eq!(r.status(), 204);
    assert_error(
        app.send(del(a["id"].as_str().unwrap())).await,
        404,
        "ResourceNotFound",
    );
    assert_eq!(rules(&app).await.len(), 1);
    assert_eq!(
        app.send(Req::new(Method::DELETE, "/_mock/faults"))
            .await
            .status(),
        204
    );
    assert!(rules(&app).await.is_empty());
    for bad in [
        json!({}),
        json!({"action": {"kind": "error", "status": 200}}),
        json!({"action": {"kind": "error"}}),
        json!({"action": {"kind": "delay", "ms": 600000}}),
        json!({"action": {"kind": "drop", "mode": "explode"}}),
        json!({"action": {"kind": "delay", "ms": 1}, "probability": 2}),
        json!({"action": {"kind": "delay", "ms": 1}, "times": 0}),
        json!({"action": {"kind": "delay", "ms": 1}, "match": {"route": "api"}}),
        json!({"action": {"kind": "delay", "ms": 1}, "match": {"colour": "red"}}),
    ] {
        let r = app.send(Req::post("/_mock/faults").json(&bad)).await;
        assert_eq!(r.status(), 400, "{bad}: {}", r.text());
    }
}
