//! Bearer tokens: 401 for every way a token can be bad, 403 for audience and permissions, the
//! emulator clock deciding expiry, delegated callers.

use defender_mock::{mint, Keys, TokenSpec};
use serde_json::{json, Value};

use crate::helpers::*;

async fn unisolate_with(app: &TestApp, auth: Option<&str>) -> TestResponse {
    let id = machine_id("fin-lt-0187");
    let mut req = Req::post(format!("/api/machines/{id}/unisolate")).json(&json!({"Comment": "x"}));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    app.send(req).await
}

#[tokio::test]
async fn missing_malformed_and_foreign_tokens_are_401_with_www_authenticate() {
    let app = spawn_app().await;
    let other_key = Keys::from_pem(include_str!("../fixtures/other-signing-key.pem")).unwrap();
    let foreign = mint(
        &other_key,
        &TokenSpec {
            now: app.emulator.now(),
            ..TokenSpec::default()
        },
    )
    .unwrap();
    let bad_iss = resign(&app.admin_token(), |claims| {
        claims["iss"] = "https://login.example.com/tenant/".into();
    });
    let cases = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer abc.def.ghi".to_owned()),
        Some(format!("Basic {}", app.admin_token())),
        Some(format!("Bearer {foreign}")),
        Some(format!("Bearer {bad_iss}")),
    ];
    for auth in cases {
        let r = unisolate_with(&app, auth.as_deref()).await;
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{auth:?}");
        assert_error(r, 401, "Unauthorized");
    }
}

#[tokio::test]
async fn a_token_expires_on_the_emulator_clock() {
    let app = spawn_app().await;
    let t = app.token_with(TokenSpec {
        roles: vec!["Machine.Isolate".into()],
        ttl_secs: 60,
        ..TokenSpec::default()
    });
    let r = unisolate_with(&app, Some(&format!("Bearer {t}"))).await;
    assert_eq!(r.status(), 201);
    app.advance(60.0).await;
    assert_error(
        unisolate_with(&app, Some(&format!("Bearer {t}"))).await,
        401,
        "Unauthorized",
    );
}

#[tokio::test]
async fn a_not_yet_valid_token_becomes_valid_when_the_clock_reaches_nbf() {
    let app = spawn_app().await;
    let future = app.emulator.now() + time::Duration::hours(1);
    let t = mint(
        &Keys::development(),
        &TokenSpec {
            roles: vec!["Machine.Isolate".into()],
            now: future,
            ..TokenSpec::default()
        },
    )
    .unwrap();
    assert_error(
        unisolate_with(&app, Some(&format!("Bearer {t}"))).await,
        401,
        "Unauthorized",
    );
    app.advance(3600.0).await;
    assert_eq!(
        unisolate_with(&app, Some(&format!("Bearer {t}")))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_token_without_the_role_is_403_naming_the_accepted_permissions() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.Read.All"]);
    assert_error_message(
        unisolate_with(&app, Some(&format!("Bearer {t}"))).await,
        403,
        "Forbidden",
        "The application does not have any of the required application permissions (Machine.Isolate) to access the resource.",
    );
    let t = app.token(&["Machine.Isolate"]);
    assert_error_containing(
        app.get_machine(&t, &machine_id("dc01")).await,
        403,
        "Forbidden",
        "(Machine.Read.All, Machine.ReadWrite.All)",
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_403() {
    let app = spawn_app().await;
    for aud in [
        "https://graph.microsoft.com",
        "https://api.security.microsoft.com",
    ] {
        let t = app.token_with(TokenSpec {
            roles: vec!["Machine.Isolate".into()],
            audience: Some(aud.into()),
            ..TokenSpec::default()
        });
        assert_error(
            unisolate_with(&app, Some(&format!("Bearer {t}"))).await,
            403,
            "Forbidden",
        );
    }
}

#[tokio::test]
async fn every_accepted_audience_and_v2_tokens_work() {
    let app = spawn_app().await;
    for aud in [
        "https://api.securitycenter.microsoft.com",
        "https://securitycenter.onmicrosoft.com/windowsatpservice",
        "fc780465-2017-40d4-a0c5-307022471b92",
    ] {
        let t = app.token_with(TokenSpec {
            roles: vec!["Machine.Read.All".into()],
            audience: Some(aud.into()),
            ..TokenSpec::default()
        });
        assert_eq!(
            app.get_machine(&t, &machine_id("dc01")).await.status(),
            200,
            "{aud}"
        );
    }
    let t = app.token_with(TokenSpec {
        roles: vec!["Machine.Read.All".into()],
        version: defender_mock::TokenVersion::V2,
        ..TokenSpec::default()
    });
    assert_eq!(app.get_machine(&t, &machine_id("dc01")).await.status(), 200);
}

#[tokio::test]
async fn a_delegated_token_acts_as_its_user() {
    let app = spawn_app().await;
    let t = app.token_with(TokenSpec {
        scp: Some("Machine.Isolate Machine.Read".into()),
        upn: Some("alice@contoso.com".into()),
        ..TokenSpec::default()
    });
    let id = machine_id("fin-lt-0142");
    let r = app
        .act(&t, &id, "isolate", json!({"IsolationType": "Selective"}))
        .await;
    assert_eq!(r.status(), 201);
    let b: Value = r.json();
    assert_eq!(b["requestor"], "alice@contoso.com");
    // Delegated callers need the delegated scope, not an app role.
    let t = app.token_with(TokenSpec {
        scp: Some("Machine.Read".into()),
        upn: Some("bob@contoso.com".into()),
        ..TokenSpec::default()
    });
    assert_error_containing(
        app.unisolate(&t, &id).await,
        403,
        "Forbidden",
        "delegated permissions (Machine.Isolate)",
    );
}

#[tokio::test]
async fn the_control_plane_needs_no_token() {
    let app = spawn_app().await;
    assert_eq!(app.send(Req::get("/_mock/health")).await.status(), 200);
    let doc = app.mock_get("/_mock/openapi.json").await;
    assert!(doc["paths"]["/api/machines/{id}/unisolate"]["post"].is_object());
}

#[tokio::test]
async fn head_requests_are_guarded_like_get() {
    let app = spawn_app().await;
    let path = format!("/api/machines/{}", machine_id("dc01"));
    let head = || Req::new(axum::http::Method::HEAD, &path);
    assert_eq!(app.send(head()).await.status(), 401);
    let r = app
        .send(head().bearer(&app.token(&["Machine.Isolate"])))
        .await;
    assert_eq!(r.status(), 403);
    let r = app.send(head().bearer(&app.admin_token())).await;
    assert_eq!(r.status(), 200);
}
