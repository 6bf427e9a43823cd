//! In-process regression tests of defects found by attack passes (issue 12), driven through the
//! real router with `oneshot`: each case failed before its fix.

use axum::{
    body::{to_bytes, Body},
    http::{Method, Request, StatusCode},
    Router,
};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::{
    auth::{permissions::all_roles, TokenSpec},
    config::Config,
    startup::Emulator,
};

fn emulator() -> Emulator {
    Emulator::new(&Config::for_tests()).expect("embedded fixtures load")
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = to_bytes(res.into_body(), usize::MAX).await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn token(e: &Emulator) -> String {
    e.mint(TokenSpec {
        roles: all_roles(),
        ttl_secs: 30 * 86_400,
        ..TokenSpec::default()
    })
    .expect("token")
}

const DC01: &str = "/_mock/machines/dc01/simulation";

#[tokio::test]
async fn a_huge_simulation_delay_is_refused_and_leaves_the_machine_as_it_was() {
    let e = emulator();
    let app = e.router();
    let (before_status, before) = send(&app, Method::GET, "/_mock/machines/dc01", None, None).await;
    assert_eq!(before_status, StatusCode::OK);
    for field in ["pickupDelaySeconds", "completionDelaySeconds"] {
        let body = json!({ field: 5_304_634_046_505u64, "online": false });
        let (status, err) = send(&app, Method::PATCH, DC01, None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["code"], "InvalidInput");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{err}"
        );
    }
    let (_, after) = send(&app, Method::GET, "/_mock/machines/dc01", None, None).await;
    assert_eq!(
        after["simulation"], before["simulation"],
        "nothing of the refused change applied"
    );
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/machines/dc01/isolate",
        Some(&token(&e)),
        Some(json!({"Comment": "c"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_longest_delays_on_a_clock_near_its_end_never_fail_an_action() {
    let e = emulator();
    let app = e.router();
    let t = token(&e);
    let ten_years = 10 * 365 * 86_400u64;
    let body = json!({"pickupDelaySeconds": ten_years, "completionDelaySeconds": ten_years});
    let (status, _) = send(&app, Method::PATCH, DC01, None, Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    // Advance the clock as far as it goes: it refuses past its end instead of stopping silently.
    let mut refused = None;
    for _ in 0..800 {
        let (status, body) = send(
            &app,
            Method::POST,
            "/_mock/clock/advance",
            None,
            Some(json!({"seconds": ten_years})),
        )
        .await;
        if status != StatusCode::OK {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the clock refuses to pass its end");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("9000"),
        "{body}"
    );
    // A token minted now is valid, and an action with the longest delays is accepted.
    let t2 = token(&e);
    assert_ne!(t, t2);
    let (status, created) = send(
        &app,
        Method::POST,
        "/api/machines/dc01/isolate",
        Some(&t2),
        Some(json!({"Comment": "c"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!(
        "/api/machineactions/{}",
        created["id"].as_str().unwrap_or_default()
    );
    let (status, polled) = send(&app, Method::GET, &path, Some(&t2), None).await;
    assert_eq!(status, StatusCode::OK, "{polled}");
    assert_eq!(polled["status"], "Pending");
}

#[tokio::test]
async fn control_plane_reads_allocate_no_tenant_and_tenant_names_are_validated() {
    let e = emulator();
    let app = e.router();
    let store = e.state().store();
    for i in 0..50 {
        let t = uuid::Uuid::new_v4();
        let path = format!("/_mock/machines/dc01?tenant={t}");
        let (status, view) = send(&app, Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{i}: {view}");
        assert_eq!(view["isolated"], false);
    }
    assert_eq!(store.tenant_count(), 0, "reads created tenants");
    let long = "a".repeat(60_000);
    for bad in ["not-a-tenant", long.as_str()] {
        let path = format!("/_mock/machines/dc01?tenant={bad}");
        let (status, err) = send(&app, Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["code"], "InvalidInput");
        let path = format!("/_mock/tenants/{bad}/rate-limits");
        let (status, _) = send(&app, Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(store.tenant_count(), 0);
    // A write creates the tenant; a domain name and its GUID are the same tenant.
    let body = json!({"online": false});
    let (status, _) = send(
        &app,
        Method::PATCH,
        "/_mock/machines/dc01/simulation?tenant=contoso.example.com",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.tenant_count(), 1);
    let guid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, b"contoso.example.com");
    let (_, view) = send(
        &app,
        Method::GET,
        &format!("/_mock/machines/dc01?tenant={guid}"),
        None,
        None,
    )
    .await;
    assert_eq!(view["simulation"]["online"], false);
}

#[tokio::test]
async fn a_token_whose_tid_is_not_a_tenant_is_401() {
    let e = emulator();
    let t = e
        .mint(TokenSpec {
            tenant: "not a tenant".into(),
            roles: all_roles(),
            ..TokenSpec::default()
        })
        .expect("token");
    let (status, err) = send(&e.router(), Method::GET, "/api/machines", Some(&t), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
}

/// A refused call (401) whose body arrives in a second write leaves the keep-alive connection
/// usable: the next request on it is answered (before, hyper closed it without saying so).
#[tokio::test]
async fn a_refused_request_with_a_late_body_keeps_the_connection_alive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::startup::Application::build(Config::for_tests())
        .await
        .expect("server");
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"Comment": "late"}"#;
    let head = format!(
        "POST /api/machines/dc01/unisolate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("head");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    s.write_all(body.as_bytes()).await.expect("body");
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    s.write_all(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("second request");
    let second = read_response(&mut s).await;
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the connection was dropped: {second:?}"
    );

    async fn read_response(s: &mut tokio::net::TcpStream) -> String {
        let mut buf = vec![0u8; 8192];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Found by fuzzing: a `$` outside a string literal made the `$filter` lexer loop, pushing empty
/// words until the process ran out of memory. Now it is a 400 like any other bad filter.
#[tokio::test]
async fn a_dollar_in_a_filter_is_a_400_not_a_hang() {
    let e = emulator();
    let t = token(&e);
    let app = e.router();
    for filter in ["$", "id%20eq%20$x", "(not%20$)"] {
        let path = format!("/api/machines?$filter={filter}");
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            send(&app, Method::GET, &path, Some(&t), None),
        );
        let (status, err) = answer.await.expect("answered in time");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}: {err}");
        assert_eq!(err["error"]["code"], "ODataError");
    }
}

/// Rate-limit overrides of 0 answered `Retry-After: 60` forever, and huge ones let the call log
/// grow without bound: both are refused now.
#[tokio::test]
async fn rate_limit_overrides_are_bounded() {
    let e = emulator();
    let app = e.router();
    let path = format!("/_mock/tenants/{}/rate-limits", uuid::Uuid::new_v4());
    for body in [
        json!({"mode": "documented", "perMinute": 0}),
        json!({"mode": "documented", "perHour": 0}),
        json!({"mode": "documented", "perHour": 1_000_000_000u64}),
    ] {
        let (status, err) = send(&app, Method::PUT, &path, None, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["error"]["code"], "InvalidInput");
    }
    let ok = json!({"mode": "documented", "perMinute": 5, "perHour": 50});
    let (status, set) = send(&app, Method::PUT, &path, None, Some(ok)).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["perMinute"], 5);
}
