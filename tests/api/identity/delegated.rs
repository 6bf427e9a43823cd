//! Delegated users: the password grant, device-group scoping and portal roles.

use defender_mock::dev::{APP_ID as DEV_APP_ID, MDE_AUDIENCE};
use serde_json::Value;

use super::*;
use crate::helpers::*;

#[tokio::test]
async fn the_password_grant_gives_a_delegated_token_acting_as_the_user() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let r = token_request(
        &app,
        &tenant,
        false,
        &[
            ("grant_type", "password"),
            ("client_id", DEV_APP_ID),
            ("resource", MDE_AUDIENCE),
            ("username", "analyst@defendermock.onmicrosoft.com"),
            ("password", "defender-mock-development-password"),
        ],
    )
    .await;
    let token = access_token(r);
    let c = claims(&token);
    assert_eq!(c["upn"], "analyst@defendermock.onmicrosoft.com");
    assert!(c["scp"].as_str().unwrap().contains("Machine.Isolate"));
    assert!(c.get("roles").is_none());
    let r = app.isolate(&token, &machine_id("fin-lt-0142")).await;
    assert_eq!(
        r.json::<Value>()["requestor"],
        "analyst@defendermock.onmicrosoft.com"
    );

    // v2 with a specific scope: only that scope is granted.
    let r = token_request(
        &app,
        &tenant,
        true,
        &[
            ("grant_type", "password"),
            ("client_id", DEV_APP_ID),
            (
                "scope",
                "https://api.securitycenter.microsoft.com/Machine.Read openid profile",
            ),
            ("username", "analyst@defendermock.onmicrosoft.com"),
            ("password", "defender-mock-development-password"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    assert_eq!(
        b["scope"],
        "https://api.securitycenter.microsoft.com/Machine.Read"
    );
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["scp"],
        "Machine.Read"
    );
}

async fn user_token(app: &TestApp, upn: &str, password: &str) -> String {
    access_token(
        token_request(
            app,
            &fresh_tenant(),
            false,
            &[
                ("grant_type", "password"),
                ("client_id", DEV_APP_ID),
                ("resource", MDE_AUDIENCE),
                ("username", upn),
                ("password", password),
            ],
        )
        .await,
    )
}

#[tokio::test]
async fn a_delegated_user_sees_and_acts_only_within_its_device_groups() {
    let app = spawn_app().await;
    let t = user_token(
        &app,
        "finance.responder@contoso.com",
        "finance-responder-password",
    )
    .await;
    assert_eq!(
        app.isolate(&t, &machine_id("fin-lt-0142")).await.status(),
        201
    );
    assert_error(
        app.isolate(&t, &machine_id("hr-dt-0031")).await,
        404,
        "ResourceNotFound",
    );
    assert_error(
        app.get_machine(&t, &machine_id("dc01")).await,
        404,
        "ResourceNotFound",
    );
    let list: Value = app.get("/api/machines", &t).await.json();
    let groups: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rbacGroupName"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["Finance", "Finance"]);
}

#[tokio::test]
async fn a_delegated_user_without_the_portal_role_is_forbidden() {
    let app = spawn_app().await;
    let t = user_token(&app, "auditor@contoso.com", "auditor-password").await;
    assert_error_message(
        app.isolate(&t, &machine_id("fin-lt-0142")).await,
        403,
        "Forbidden", "The user auditor@contoso.com does not have the 'Active remediation actions' portal permission required for this action.");
    assert_eq!(app.get_machine(&t, &machine_id("dc01")).await.status(), 200);
}
