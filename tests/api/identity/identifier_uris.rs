//! Every identifier URI of the WindowsDefenderATP app is a valid v1 `resource` and v2 scope
//! prefix, the token's `aud` is what was asked for and the API accepts it; the token endpoints
//! answer any method but POST and OPTIONS with Entra's AADSTS900561.

use axum::http::Method;
use defender_mock::dev::{APP_ID as DEV_APP_ID, APP_SECRET as DEV_APP_SECRET};
use serde_json::Value;

use super::*;
use crate::helpers::*;

/// The identifier URIs of the WindowsDefenderATP application (docs/contract/token-service.md).
const IDENTIFIER_URIS: &[&str] = &[
    "https://api.securitycenter.microsoft.com",
    "https://api.securitycenter.windows.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "fc780465-2017-40d4-a0c5-307022471b92",
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
];

#[tokio::test]
async fn each_identifier_uri_gives_a_token_for_it_that_the_api_accepts() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let machine = format!("/api/machines/{}", machine_id("dc01"));
    for uri in IDENTIFIER_URIS {
        let scope = format!("{uri}/.default");
        for (v2, key, value) in [(false, "resource", *uri), (true, "scope", scope.as_str())] {
            let r = token_request(
                &app,
                &tenant,
                v2,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", DEV_APP_ID),
                    ("client_secret", DEV_APP_SECRET),
                    (key, value),
                ],
            )
            .await;
            assert_eq!(r.status(), 200, "{key}={value}: {}", r.text());
            let b: Value = r.json();
            if !v2 {
                assert_eq!(b["resource"], *uri);
            }
            let token = b["access_token"].as_str().unwrap().to_owned();
            let c = claims(&token);
            assert_eq!(c["aud"], *uri, "{key}={value}");
            assert!(c["roles"].as_array().unwrap().len() > 1, "{c}");
            let r = app.get(&machine, &token).await;
            assert_eq!(r.status(), 200, "{key}={value}: {}", r.text());
        }
    }
}

#[tokio::test]
async fn a_token_for_another_resource_is_still_refused_by_the_api() {
    let app = spawn_app().await;
    let r = token_request(
        &app,
        &fresh_tenant(),
        false,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_APP_ID),
            ("client_secret", DEV_APP_SECRET),
            ("resource", "https://api.security.microsoft.com"),
        ],
    )
    .await;
    let token = access_token(r);
    assert_error(
        app.get(&format!("/api/machines/{}", machine_id("dc01")), &token)
            .await,
        403,
        "Forbidden",
    );
}

#[tokio::test]
async fn any_method_but_post_and_options_on_a_token_endpoint_is_aadsts900561() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    for path in ["oauth2/token", "oauth2/v2.0/token"] {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
            let r = app
                .send(Req::new(method.clone(), format!("/{tenant}/{path}")))
                .await;
            assert_eq!(
                r.headers()["content-type"],
                "application/json; charset=utf-8"
            );
            let b = entra_error(r, 400, "invalid_request", 900561);
            let desc = b["error_description"].as_str().unwrap();
            assert!(
                desc.starts_with(&format!(
                    "AADSTS900561: The endpoint only accepts POST, OPTIONS requests. Received a {method} request. "
                )),
                "{desc}"
            );
        }
        let r = app
            .send(Req::new(Method::OPTIONS, format!("/{tenant}/{path}")))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["allow"], "POST, OPTIONS");
    }
}

#[tokio::test]
async fn a_token_body_over_the_limit_is_an_entra_error() {
    let app = spawn_app().await;
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(2 << 20));
    for path in ["oauth2/token", "oauth2/v2.0/token"] {
        let r = app
            .send(
                Req::post(format!("/{}/{path}", fresh_tenant()))
                    .body(Some("application/x-www-form-urlencoded"), big.clone()),
            )
            .await;
        let b = entra_error(r, 413, "invalid_request", 9002313);
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .contains("larger than the 1048576-byte limit"),
            "{b}"
        );
    }
}
