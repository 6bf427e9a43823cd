//! The Entra-shaped identity side: token grants, Entra errors, discovery, JWKS, delegated users.

use defender_mock::dev::{
    APP_CLIENT_PEM as DEV_APP_CLIENT_PEM, APP_ID as DEV_APP_ID, APP_SECRET as DEV_APP_SECRET,
    MDE_AUDIENCE,
};
use jsonwebtoken::{
    decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde_json::{json, Value};

use crate::helpers::*;

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

async fn token_request(
    app: &TestApp,
    tenant: &str,
    v2: bool,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let path = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    app.client
        .post(format!("{}/{tenant}/{path}", app.url))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn access_token(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts an Entra error body and returns it.
async fn entra_error(r: reqwest::Response, status: u16, error: &str, code: u32) -> Value {
    assert_eq!(r.status().as_u16(), status);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], error, "{b}");
    assert_eq!(b["error_codes"], json!([code]), "{b}");
    let desc = b["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert!(
        desc.contains("Trace ID: ") && desc.contains("Correlation ID: "),
        "{desc}"
    );
    assert_eq!(b["trace_id"], b["correlation_id"]);
    assert_eq!(
        b["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
    b
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_v2_gives_a_token_that_verifies_against_the_published_jwks() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let r = token_request(
        &app,
        &tenant,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_APP_ID),
            ("client_secret", DEV_APP_SECRET),
            ("scope", SCOPE),
            ("client_info", "1"),
            ("x-client-SKU", "MSAL.Python"),
            ("x-client-VER", "1.31.0"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store, no-cache");
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        (
            b["token_type"].clone(),
            b["expires_in"].clone(),
            b["ext_expires_in"].clone()
        ),
        (json!("Bearer"), json!(3599), json!(3599))
    );
    let token = b["access_token"].as_str().unwrap();

    let jwks: JwkSet = app
        .client
        .get(format!("{}/{tenant}/discovery/v2.0/keys", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's kid is published");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[MDE_AUDIENCE]);
    v.set_issuer(&[format!("https://sts.windows.net/{tenant}/")]);
    let verified = decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .unwrap()
        .claims;
    assert_eq!(verified["tid"], tenant.as_str());
    assert_eq!(verified["appid"], DEV_APP_ID);
    assert_eq!(verified["ver"], "1.0");
    assert!(verified["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("Machine.Isolate")));

    let id = machine_id("fin-lt-0187");
    let r = app
        .post_raw(
            &format!("/api/machines/{id}/unisolate"),
            Some(token),
            Some("application/json"),
            DOC_BODY,
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["requestor"],
        "defender-mock development app"
    );
}

#[tokio::test]
async fn client_credentials_v1_with_basic_auth_answers_with_strings() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(format!("{}/{}/oauth2/token", app.url, fresh_tenant()))
        .basic_auth(DEV_APP_ID, Some(DEV_APP_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "resource",
                "https://securitycenter.onmicrosoft.com/windowsatpservice",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    for k in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        assert!(
            b[k].as_str().unwrap().parse::<i64>().is_ok(),
            "{k} is a numeric string: {b}"
        );
    }
    assert_eq!(b["expires_in"], "3599");
    assert_eq!(
        b["resource"],
        "https://securitycenter.onmicrosoft.com/windowsatpservice"
    );
    let token = b["access_token"].as_str().unwrap();
    assert_eq!(
        claims(token)["aud"],
        "https://securitycenter.onmicrosoft.com/windowsatpservice"
    );
    let r = app
        .get(&format!("/api/machines/{}", machine_id("dc01")), token)
        .await;
    assert_eq!(r.status(), 200);
}

fn assertion(alg: Algorithm, key_pem: &str, iss: &str, aud: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // A float `exp`, as MSAL writes it.
    let claims = json!({"iss": iss, "sub": iss, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now as f64 + 600.5});
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_client_assertion_signed_with_the_registered_certificate_authenticates() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let aud = format!("{}/{tenant}/oauth2/v2.0/token", app.url);
    let key_end = DEV_APP_CLIENT_PEM
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap();
    let key = &DEV_APP_CLIENT_PEM[..key_end];
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let a = assertion(alg, key, DEV_APP_ID, &aud);
        let r = token_request(
            &app,
            &tenant,
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEV_APP_ID),
                ("scope", SCOPE),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ],
        )
        .await;
        let token = access_token(r).await;
        assert_eq!(claims(&token)["appid"], DEV_APP_ID);
    }
    let other = include_str!("../fixtures/other-signing-key.pem");
    let forged = assertion(Algorithm::RS256, other, DEV_APP_ID, &aud);
    let form = |a: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", DEV_APP_ID.to_owned()),
            ("scope", SCOPE.to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", a.to_owned()),
        ]
    };
    let r = app
        .client
        .post(&aud)
        .form(&form(&forged))
        .send()
        .await
        .unwrap();
    entra_error(r, 401, "invalid_client", 700027).await;
    let wrong_iss = assertion(Algorithm::RS256, key, "someone-else", &aud);
    let r = app
        .client
        .post(&aud)
        .form(&form(&wrong_iss))
        .send()
        .await
        .unwrap();
    entra_error(r, 401, "invalid_client", 700021).await;
    let wrong_aud = assertion(Algorithm::RS256, key, DEV_APP_ID, "https://example.com/");
    let r = app
        .client
        .post(&aud)
        .form(&form(&wrong_aud))
        .send()
        .await
        .unwrap();
    entra_error(r, 401, "invalid_client", 700212).await;
}

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
    let token = access_token(r).await;
    let c = claims(&token);
    assert_eq!(c["upn"], "analyst@defendermock.onmicrosoft.com");
    assert!(c["scp"].as_str().unwrap().contains("Machine.Isolate"));
    assert!(c.get("roles").is_none());
    let r = app
        .act(&token, &machine_id("fin-lt-0142"), "isolate", json!({}))
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["requestor"],
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
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["scope"],
        "https://api.securitycenter.microsoft.com/Machine.Read"
    );
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["scp"],
        "Machine.Read"
    );
}

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
        )
        .await;
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
    )
    .await;
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
    )
    .await;
    assert_error(
        app.get(&format!("/api/machines/{}", machine_id("dc01")), &other)
            .await,
        403,
        "Forbidden",
    )
    .await;
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
    let a = claims(
        &access_token(token_request(&app, "contoso.onmicrosoft.com", true, &form).await).await,
    );
    let b = claims(
        &access_token(token_request(&app, "CONTOSO.onmicrosoft.com", true, &form).await).await,
    );
    assert_eq!(a["tid"], b["tid"]);
    assert!(uuid::Uuid::parse_str(a["tid"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn discovery_documents_point_back_at_the_emulator() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let get = |path: String| {
        let client = app.client.clone();
        async move {
            client
                .get(path)
                .header("host", "login.microsoftonline.com:8443")
                .send()
                .await
                .unwrap()
        }
    };
    let r = get(format!(
        "{}/{tenant}/v2.0/.well-known/openid-configuration",
        app.url
    ))
    .await;
    assert_eq!(r.headers()["cache-control"], "max-age=86400, private");
    let v2: Value = r.json().await.unwrap();
    assert_eq!(
        v2["token_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        v2["authorization_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        v2["jwks_uri"],
        format!("http://login.microsoftonline.com:8443/{tenant}/discovery/v2.0/keys")
    );
    assert_eq!(
        v2["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    let v1: Value = get(format!(
        "{}/{tenant}/.well-known/openid-configuration",
        app.url
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{tenant}/"));
    assert_eq!(
        v1["token_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/token")
    );
    assert_eq!(
        v1["jwks_uri"],
        "http://login.microsoftonline.com:8443/common/discovery/keys"
    );
    let common: Value = get(format!(
        "{}/common/v2.0/.well-known/openid-configuration",
        app.url
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        common["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );

    let keys: Value = app
        .client
        .get(format!("{}/common/discovery/keys", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k = &keys["keys"][0];
    assert_eq!(
        (k["kty"].clone(), k["use"].clone(), k["e"].clone()),
        (json!("RSA"), json!("sig"), json!("AQAB"))
    );
    assert_eq!(k["kid"], k["x5t"]);
    assert!(k["x5c"][0].as_str().unwrap().len() > 500);
    assert!(k.get("issuer").is_none(), "v1 key sets carry no issuer");
    let keys2: Value = app
        .client
        .get(format!("{}/{tenant}/discovery/v2.0/keys", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        keys2["keys"][0]["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );

    let inst: Value = get(format!(
        "{}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        app.url
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        inst["tenant_discovery_endpoint"],
        format!(
            "http://login.microsoftonline.com:8443/{tenant}/v2.0/.well-known/openid-configuration"
        )
    );
    assert_eq!(inst["api-version"], "1.1");
    assert_eq!(
        inst["metadata"][0]["aliases"],
        json!(["login.microsoftonline.com:8443"])
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
    .await
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
        app.act(&t, &machine_id("fin-lt-0142"), "isolate", json!({}))
            .await
            .status(),
        201
    );
    assert_error(
        app.act(&t, &machine_id("hr-dt-0031"), "isolate", json!({}))
            .await,
        404,
        "ResourceNotFound",
    )
    .await;
    assert_error(
        app.get(&format!("/api/machines/{}", machine_id("dc01")), &t)
            .await,
        404,
        "ResourceNotFound",
    )
    .await;
    let list: Value = app.get("/api/machines", &t).await.json().await.unwrap();
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
    let b = assert_error(
        app.act(&t, &machine_id("fin-lt-0142"), "isolate", json!({}))
            .await,
        403,
        "Forbidden",
    )
    .await;
    assert_eq!(
        b["error"]["message"],
        "The user auditor@contoso.com does not have the 'Active remediation actions' portal permission required for this action."
    );
    assert_eq!(
        app.get(&format!("/api/machines/{}", machine_id("dc01")), &t)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn user_realm_discovery_says_managed() {
    let app = spawn_app().await;
    let b: Value = app
        .client
        .get(format!(
            "{}/common/userrealm/alice@contoso.com?api-version=1.0",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (b["account_type"].clone(), b["domain_name"].clone()),
        (json!("Managed"), json!("contoso.com"))
    );
}

#[tokio::test]
async fn token_version_v2_issues_v2_shaped_tokens_the_api_accepts() {
    use defender_mock::{Config, TokenVersion};
    let app = spawn_config(
        Config {
            token_version: TokenVersion::V2,
            ..Config::for_tests()
        },
        fleet(),
    )
    .await;
    let tenant = fresh_tenant();
    let r = token_request(
        &app,
        &tenant,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_APP_ID),
            ("client_secret", DEV_APP_SECRET),
            ("scope", SCOPE),
        ],
    )
    .await;
    let token = access_token(r).await;
    let c = claims(&token);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(
        c["iss"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    assert_eq!(c["aud"], "fc780465-2017-40d4-a0c5-307022471b92");
    assert_eq!(c["azp"], DEV_APP_ID);
    assert_eq!(
        app.get(&format!("/api/machines/{}", machine_id("dc01")), &token)
            .await
            .status(),
        200
    );
}
