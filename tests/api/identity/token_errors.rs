//! Every way a token request fails, with its Entra error and code; domain tenants.

use defender_mock::dev::{APP_ID as DEV_APP_ID, APP_SECRET as DEV_APP_SECRET, MDE_AUDIENCE};

use super::*;
use crate::helpers::*;

#[tokio::test]
async fn every_token_error_has_its_entra_code() {
    let app = spawn_app().await;
    let t = fresh_tenant();
    let cc = |extra: Vec<(&'static str, &'static str)>| {
        let mut f = vec![
            ("grant_type", "client_credentials"),
            ("client_id", DEV_APP_ID),
            ("client_secret", DEV_APP_SECRET),
            ("scope", SCOPE),
        ];
        for (k, v) in extra {
            f.retain(|(fk, _)| *fk != k);
            if !v.is_empty() {
                f.push((k, v));
            }
        }
        f
    };
    /// (tenant, v2 endpoint, the client-credentials form with this change, status, error, code)
    type Case<'a> = (
        &'a str,
        bool,
        (&'static str, &'static str),
        u16,
        &'static str,
        u32,
    );
    let cases: [Case<'_>; 11] = [
        (&t, true, ("client_id", "00000000-1111-2222-3333-444444444444"), 400, "unauthorized_client", 700016),
        (&t, true, ("client_secret", "wrong"), 401, "invalid_client", 7000215),
        (&t, true, ("client_secret", ""), 401, "invalid_client", 7000218),
        (&t, true, ("scope", "https://api.securitycenter.microsoft.com/Machine.Isolate"), 400, "invalid_scope", 1002012),
        (&t, true, ("scope", "https://api.securitycenter.microsoft.com/.default https://graph.microsoft.com/.default"), 400, "invalid_scope", 70011),
        (&t, true, ("scope", "https://nothing.example.com/.default"), 400, "invalid_resource", 500011),
        (&t, false, ("scope", ""), 400, "invalid_request", 900144),
        (&t, true, ("grant_type", "authorization_code"), 400, "unsupported_grant_type", 70003),
        (&t, true, ("grant_type", ""), 400, "invalid_request", 900144),
        ("common", true, ("", ""), 400, "invalid_request", 50059),
        ("not a tenant!", true, ("", ""), 400, "invalid_request", 900023),
    ];
    for (tenant, v2, change, status, error, code) in cases {
        let change = if change.0.is_empty() {
            vec![]
        } else {
            vec![change]
        };
        entra_error(
            token_request(&app, tenant, v2, &cc(change)).await,
            status,
            error,
            code,
        );
    }
    let pw = [
        ("grant_type", "password"),
        ("client_id", DEV_APP_ID),
        ("resource", MDE_AUDIENCE),
        ("username", "auditor@contoso.com"),
        ("password", "nope"),
    ];
    entra_error(
        token_request(&app, &t, false, &pw).await,
        400,
        "invalid_grant",
        50126,
    );
    // A token for another API is issued, and the MDE API refuses it (403), as the real one does.
    let other = access_token(
        token_request(
            &app,
            &t,
            true,
            &cc(vec![(
                "scope",
                "https://api.security.microsoft.com/.default",
            )]),
        )
        .await,
    );
    assert_error(
        app.get_machine(&other, &machine_id("dc01")).await,
        403,
        "Forbidden",
    );
}

#[tokio::test]
async fn a_domain_tenant_maps_to_one_stable_tenant_id() {
    let app = spawn_app().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEV_APP_ID),
        ("client_secret", DEV_APP_SECRET),
        ("scope", SCOPE),
    ];
    let a = claims(&access_token(
        token_request(&app, "contoso.onmicrosoft.com", true, &form).await,
    ));
    let b = claims(&access_token(
        token_request(&app, "CONTOSO.onmicrosoft.com", true, &form).await,
    ));
    assert_eq!(a["tid"], b["tid"]);
    assert!(uuid::Uuid::parse_str(a["tid"].as_str().unwrap()).is_ok());
}
