//! Client credentials: a secret (v1 and v2 endpoints), a signed client assertion, v2-shaped tokens;
//! the tokens verify against the published JWKS and the API accepts them.

use defender_mock::dev::{
    APP_CLIENT_PEM as DEV_APP_CLIENT_PEM, APP_ID as DEV_APP_ID, APP_SECRET as DEV_APP_SECRET,
    MDE_AUDIENCE,
};
use jsonwebtoken::{
    decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde_json::{json, Value};

use super::*;
use crate::helpers::*;

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
    let b: Value = r.json();
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
        .send(Req::get(format!("/{tenant}/discovery/v2.0/keys")))
        .await
        .json();
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
        r.json::<Value>()["requestor"],
        "defender-mock development app"
    );
}

#[tokio::test]
async fn client_credentials_v1_with_basic_auth_answers_with_strings() {
    let app = spawn_app().await;
    let req = Req::post(format!("/{}/oauth2/token", fresh_tenant()))
        .basic(DEV_APP_ID, DEV_APP_SECRET)
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "resource",
                "https://securitycenter.onmicrosoft.com/windowsatpservice",
            ),
        ]);
    let r = app.send(req).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
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
    let r = app.get_machine(token, &machine_id("dc01")).await;
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
        let token = access_token(r);
        assert_eq!(claims(&token)["appid"], DEV_APP_ID);
    }
    let other = include_str!("../../fixtures/other-signing-key.pem");
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
    let r = app.send(Req::post(&aud).form(&form(&forged))).await;
    entra_error(r, 401, "invalid_client", 700027);
    let wrong_iss = assertion(Algorithm::RS256, key, "someone-else", &aud);
    let r = app.send(Req::post(&aud).form(&form(&wrong_iss))).await;
    entra_error(r, 401, "invalid_client", 700021);
    let wrong_aud = assertion(Algorithm::RS256, key, DEV_APP_ID, "https://example.com/");
    let r = app.send(Req::post(&aud).form(&form(&wrong_aud))).await;
    entra_error(r, 401, "invalid_client", 700023);
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
    let token = access_token(r);
    let c = claims(&token);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(
        c["iss"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    assert_eq!(c["aud"], "fc780465-2017-40d4-a0c5-307022471b92");
    assert_eq!(c["azp"], DEV_APP_ID);
    assert_eq!(
        app.get_machine(&token, &machine_id("dc01")).await.status(),
        200
    );
}
