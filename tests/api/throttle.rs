//! Throttling at the documented 100/min and 1500/hour, on the emulator clock.

use defender_mock::{
    Config, DuplicatePolicy, RateLimitMode as Mode, RateLimits as Settings, StoreOptions, TokenSpec,
};
use serde_json::json;

use crate::helpers::*;

/// A server where every unisolate is a new action, so statuses say only what the limiter did.
fn permissive(rate_limits: Settings) -> Config {
    let store = StoreOptions {
        duplicate_policy: DuplicatePolicy::Allow,
        ..Default::default()
    };
    Config {
        store,
        rate_limits,
        ..Config::for_tests()
    }
}

async fn permissive_app(rate_limits: Settings) -> TestApp {
    spawn_config(permissive(rate_limits), fleet()).await
}

async fn unisolate(app: &TestApp, token: &str) -> TestResponse {
    app.unisolate(token, &machine_id("fin-lt-0187")).await
}

async fn calls(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(unisolate(app, token).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn the_101st_call_in_a_minute_is_429_until_retry_after_has_passed() {
    let app = permissive_app(Settings::default()).await;
    let t = app.admin_token();
    assert!(calls(&app, &t, 50).await.iter().all(|s| *s == 201));
    app.advance(10.0).await;
    assert!(calls(&app, &t, 50).await.iter().all(|s| *s == 201));
    let r = unisolate(&app, &t).await;
    assert_eq!(r.headers()["retry-after"], "50");
    assert_error_containing(r, 429, "TooManyRequests", "50 seconds");
    // Throttled calls use no quota: the wait does not grow.
    assert_eq!(unisolate(&app, &t).await.headers()["retry-after"], "50");
    app.advance(49.0).await;
    assert_eq!(unisolate(&app, &t).await.status(), 429);
    app.advance(1.0).await;
    assert_eq!(unisolate(&app, &t).await.status(), 201);
}

#[tokio::test]
async fn fifteen_hundred_calls_spread_over_an_hour_pass_and_the_next_waits_for_the_hour() {
    let app = permissive_app(Settings::default()).await;
    let t = app.admin_token();
    for batch in 0..15 {
        let statuses = calls(&app, &t, 100).await;
        assert!(
            statuses.iter().all(|s| *s == 201),
            "batch {batch}: {statuses:?}"
        );
        app.advance(60.0).await;
    }
    // 15 minutes in: no minute limit applies, the hour is full until the first batch leaves it.
    let r = unisolate(&app, &t).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 3600 - 15 * 60);
    app.advance(retry as f64 - 1.0).await;
    assert_eq!(unisolate(&app, &t).await.status(), 429);
    app.advance(1.0).await;
    assert_eq!(unisolate(&app, &t).await.status(), 201);
}

#[tokio::test]
async fn another_app_tenant_or_endpoint_is_not_affected() {
    let app = permissive_app(Settings::default()).await;
    let t = app.admin_token();
    calls(&app, &t, 100).await;
    assert_eq!(unisolate(&app, &t).await.status(), 429);
    let other_app = app.token_with(TokenSpec {
        app_id: "0c0ffee0-0000-4000-8000-000000000001".into(),
        roles: vec!["Machine.Isolate".into()],
        ..TokenSpec::default()
    });
    assert_eq!(unisolate(&app, &other_app).await.status(), 201);
    assert_eq!(
        unisolate(&app, &app.tenant_token(&fresh_tenant()))
            .await
            .status(),
        201
    );
    let r = app.get_machine(&t, &machine_id("dc01")).await;
    assert_eq!(r.status(), 200);
    // Another machine shares the endpoint's counter.
    let r = app.isolate(&t, &machine_id("fin-lt-0142")).await;
    assert_eq!(r.status(), 201, "isolate is another endpoint");
    let r = app.unisolate(&t, &machine_id("hr-dt-0044")).await;
    assert_eq!(
        r.status(),
        429,
        "unisolate on any machine shares one counter"
    );
}

#[tokio::test]
async fn of_200_concurrent_calls_over_several_connections_exactly_100_pass() {
    let app = spawn_tcp(permissive(Settings::default()), fleet()).await;
    let t = app.admin_token();
    let id = machine_id("fin-lt-0187");
    let mut tasks = Vec::new();
    for c in 0..8 {
        // One client each: separate connection pools, so the calls come over several connections.
        let client = reqwest::Client::new();
        for _ in 0..25 {
            let req = Req::post(format!("/api/machines/{id}/unisolate"))
                .bearer(&t)
                .json(&json!({"Comment": format!("conn {c}")}));
            let (client, url) = (client.clone(), app.url.clone());
            tasks.push(tokio::spawn(async move {
                req.over_tcp(&client, &url).await.status().as_u16()
            }));
        }
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        100,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 100);
}

#[tokio::test]
async fn rate_limits_off_never_answers_429() {
    let app = permissive_app(Settings {
        mode: Mode::Off,
        ..Settings::default()
    })
    .await;
    let t = app.admin_token();
    assert!(calls(&app, &t, 300).await.iter().all(|s| *s == 201));
}

#[tokio::test]
async fn unauthenticated_and_forbidden_calls_use_no_quota() {
    let app = permissive_app(Settings::default()).await;
    let id = machine_id("fin-lt-0187");
    let weak = app.token(&["Machine.Read.All"]);
    for _ in 0..60 {
        let r = app
            .post_raw(
                &format!("/api/machines/{id}/unisolate"),
                None,
                Some("application/json"),
                DOC_BODY,
            )
            .await;
        assert_eq!(r.status(), 401);
        assert_eq!(unisolate(&app, &weak).await.status(), 403);
    }
    assert!(calls(&app, &app.admin_token(), 100)
        .await
        .iter()
        .all(|s| *s == 201));
}

#[tokio::test]
async fn limits_can_be_overridden_and_switched_off_per_tenant() {
    let app = permissive_app(Settings {
        per_minute: Some(3),
        ..Settings::default()
    })
    .await;
    let t = app.admin_token();
    assert_eq!(calls(&app, &t, 4).await, vec![201, 201, 201, 429]);
    let tenant = fresh_tenant();
    let path = format!("/_mock/tenants/{tenant}/rate-limits");
    let r = app
        .send(Req::put(&path).json(&json!({"mode": "off"})))
        .await;
    assert_eq!(r.status(), 200);
    let tt = app.tenant_token(&tenant);
    assert!(calls(&app, &tt, 10).await.iter().all(|s| *s == 201));
    let r = app
        .send(Req::put(&path).json(&json!({"mode": "sometimes"})))
        .await;
    assert_error(r, 400, "InvalidInput");
}
