//! Client-assertion attacks on the token endpoints: assertions that are replayed, misaddressed,
//! early, late, unsigned or keyed with the public key each get Entra's status, `error` and code.

use defender_mock::{
    dev::{APP_CLIENT_PEM, APP_ID},
    Config,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{jws, signed};
use crate::{
    helpers::*,
    identity::{access_token, entra_error, SCOPE},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An app of the test's `apps.json` whose assertions are single-use.
const SINGLE_USE_APP: &str = "5e1f0a3b-7c2d-4e9f-8a6b-0c1d2e3f4a5b";

fn client_key() -> &'static str {
    let cert = APP_CLIENT_PEM.find("-----BEGIN CERTIFICATE-----").unwrap();
    &APP_CLIENT_PEM[..cert]
}

fn client_certificate() -> &'static str {
    let cert = APP_CLIENT_PEM.find("-----BEGIN CERTIFICATE-----").unwrap();
    &APP_CLIENT_PEM[cert..]
}

/// The claims MSAL writes for `client` to `aud`, valid for ten minutes from now (wall time, the
/// client's clock), with a fresh `jti`.
fn claims(client: &str, aud: &str) -> Value {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": client, "sub": client, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now, "nbf": now, "exp": now as f64 + 600.0,
    })
}

/// `claims` signed RS256 with the development app's certificate key.
fn assertion(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(client_key().as_bytes()).unwrap();
    signed(
        &json!({"alg": "RS256", "typ": "JWT"}),
        claims,
        &key,
        Algorithm::RS256,
    )
}

/// The token endpoint URL (v2 or v1) of `tenant` on `app`.
pub(super) fn endpoint(app: &TestApp, tenant: &str, v2: bool) -> String {
    let path = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    format!("{}/{tenant}/{path}", app.url)
}

/// A client-credentials request of `client` authenticated by `assertion`, to `url`.
async fn present(app: &TestApp, url: &str, client: &str, assertion: &str) -> TestResponse {
    let resource = ("resource", "https://api.securitycenter.microsoft.com");
    let target = if url.ends_with("v2.0/token") {
        ("scope", SCOPE)
    } else {
        resource
    };
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client),
        target,
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    app.send(Req::post(url).form(&form)).await
}

/// An emulator whose `apps.json` adds [`SINGLE_USE_APP`], with the development certificate.
async fn single_use_app() -> TestApp {
    let dir = std::env::temp_dir().join(format!("dm-attack-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let apps = json!([{
        "clientId": SINGLE_USE_APP,
        "displayName": "Single-use assertions",
        "certificates": [client_certificate()],
        "roles": ["Machine.Read.All"],
        "singleUseAssertions": true,
    }]);
    std::fs::write(dir.join("apps.json"), apps.to_string()).unwrap();
    let config = Config {
        fixtures: Some(dir.clone()),
        ..Config::for_tests()
    };
    let app = spawn_config(config, fleet()).await;
    let _ = std::fs::remove_dir_all(dir);
    app
}

#[tokio::test]
async fn a_replayed_assertion_is_accepted_as_entra_does_unless_the_app_is_single_use() {
    // Entra accepts an assertion again while it is valid: MSAL Python reuses one for nine
    // minutes (docs/contract/token-service.md §3.3), so by default a replay passes.
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let url = endpoint(&app, &tenant, true);
    let a = assertion(&claims(APP_ID, &url));
    for _ in 0..2 {
        access_token(present(&app, &url, APP_ID, &a).await);
    }

    let app = single_use_app().await;
    let url = endpoint(&app, &tenant, true);
    let a = assertion(&claims(SINGLE_USE_APP, &url));
    access_token(present(&app, &url, SINGLE_USE_APP, &a).await);
    let replayed = entra_error(
        present(&app, &url, SINGLE_USE_APP, &a).await,
        401,
        "invalid_client",
        50013,
    );
    assert!(
        replayed["error_description"]
            .as_str()
            .unwrap()
            .contains("already presented"),
        "{replayed}"
    );
    // The same assertion at the v1 endpoint (its audience is accepted there) is the same replay.
    let v1 = endpoint(&app, &tenant, false);
    entra_error(
        present(&app, &v1, SINGLE_USE_APP, &a).await,
        401,
        "invalid_client",
        50013,
    );
    // A new jti is a new assertion; none at all is malformed for a single-use app.
    access_token(
        present(
            &app,
            &url,
            SINGLE_USE_APP,
            &assertion(&claims(SINGLE_USE_APP, &url)),
        )
        .await,
    );
    let mut no_jti = claims(SINGLE_USE_APP, &url);
    no_jti.as_object_mut().unwrap().remove("jti");
    for _ in 0..2 {
        entra_error(
            present(&app, &url, SINGLE_USE_APP, &assertion(&no_jti)).await,
            400,
            "invalid_request",
            50027,
        );
    }
}

#[tokio::test]
async fn the_audience_must_be_this_token_endpoint() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let url = endpoint(&app, &tenant, true);
    let host = app.url.trim_start_matches("http://");
    let accepted = [
        url.clone(),
        endpoint(&app, &tenant, false),
        format!("{}/{tenant}/v2.0", app.url),
        format!(
            "HTTP://{}/{}/OAUTH2/V2.0/TOKEN",
            host.to_uppercase(),
            tenant.to_uppercase()
        ),
    ];
    for aud in accepted {
        let r = present(&app, &url, APP_ID, &assertion(&claims(APP_ID, &aud))).await;
        assert_eq!(r.status(), 200, "{aud}: {}", r.text());
    }
    let refused = [
        format!("https://{host}/{tenant}/oauth2/v2.0/token"),
        format!("http://{host}:8080/{tenant}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
        format!("{}/{}/oauth2/v2.0/token", app.url, fresh_tenant()),
        format!("{}/common/oauth2/v2.0/token", app.url),
        format!("{}/organizations/oauth2/v2.0/token", app.url),
        format!("{}/{tenant}/oauth2/v2.0/authorize", app.url),
        format!("{}/{tenant}/oauth2/v2.0/token/", app.url),
        format!("{}/{tenant}/oauth2/v2.0/token?x=1", app.url),
        format!("{}/{tenant}/oauth2/v2.0/token.evil.example", app.url),
        format!("http://{host}.evil.example/{tenant}/oauth2/v2.0/token"),
        format!("{}/{tenant}", app.url),
        "https://example.com/".to_owned(),
        String::new(),
    ];
    for aud in refused {
        let r = present(&app, &url, APP_ID, &assertion(&claims(APP_ID, &aud))).await;
        let b = entra_error(r, 401, "invalid_client", 700023);
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .contains("does not match Realm issuer"),
            "{aud}: {b}"
        );
    }
    let mut no_aud = claims(APP_ID, &url);
    no_aud.as_object_mut().unwrap().remove("aud");
    entra_error(
        present(&app, &url, APP_ID, &assertion(&no_aud)).await,
        401,
        "invalid_client",
        700023,
    );
    for odd in [
        json!([url.clone()]),
        json!([url.clone(), "https://example.com/"]),
        json!(42),
    ] {
        let mut c = claims(APP_ID, &url);
        c["aud"] = odd;
        entra_error(
            present(&app, &url, APP_ID, &assertion(&c)).await,
            400,
            "invalid_request",
            50027,
        );
    }
}

#[tokio::test]
async fn a_domain_tenant_accepts_the_audience_its_discovery_document_names() {
    let app = spawn_app().await;
    let domain = "contoso-attack.onmicrosoft.com";
    let doc: Value = app
        .send(Req::get(format!(
            "/{domain}/v2.0/.well-known/openid-configuration"
        )))
        .await
        .json();
    let token_endpoint = doc["token_endpoint"].as_str().unwrap().to_owned();
    assert!(!token_endpoint.contains(domain), "{token_endpoint}");
    // MSAL signs for the discovered endpoint (the tenant's id) and may post to either URL.
    let by_name = endpoint(&app, domain, true);
    for url in [&by_name, &token_endpoint] {
        let a = assertion(&claims(APP_ID, &token_endpoint));
        assert_eq!(present(&app, url, APP_ID, &a).await.status(), 200, "{url}");
        let a = assertion(&claims(APP_ID, &by_name));
        assert_eq!(present(&app, url, APP_ID, &a).await.status(), 200, "{url}");
    }
}

#[tokio::test]
async fn an_assertion_outside_its_time_window_is_700024_with_entras_text() {
    let app = spawn_app().await;
    let url = endpoint(&app, &fresh_tenant(), true);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(APP_ID, &url);
        edit(&mut c);
        assertion(&c)
    };
    let day_ahead = with(&|c| c["nbf"] = (now + 86_400).into());
    let b = entra_error(
        present(&app, &url, APP_ID, &day_ahead).await,
        401,
        "invalid_client",
        700024,
    );
    let text = b["error_description"].as_str().unwrap();
    let nbf = OffsetDateTime::from_unix_timestamp(now + 86_400).unwrap();
    let nbf_text = format!(
        "{} {:02}:{:02}:{:02}",
        nbf.date(),
        nbf.hour(),
        nbf.minute(),
        nbf.second()
    )
    .replace(' ', "T");
    assert!(
        text.contains("Client assertion is not within its valid time range. Current time: ")
            && text.contains(&format!("assertion valid from {nbf_text}.0000000Z, expiry time of assertion "))
            && text.contains("Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."),
        "{text}"
    );
    let expired = with(&|c| {
        c["exp"] = (now - 3600).into();
        c.as_object_mut().unwrap().remove("nbf");
    });
    let b = entra_error(
        present(&app, &url, APP_ID, &expired).await,
        401,
        "invalid_client",
        700024,
    );
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("assertion valid from 1970-01-01T00:00:00.0000000Z"),
        "{b}"
    );
    // Within five minutes of skew either way, a client's clock is trusted.
    for ok in [
        with(&|c| c["nbf"] = (now + 240).into()),
        with(&|c| c["exp"] = (now - 240).into()),
    ] {
        access_token(present(&app, &url, APP_ID, &ok).await);
    }
    for malformed in [
        with(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        with(&|c| c["nbf"] = "yesterday".into()),
        with(&|c| c["exp"] = "tomorrow".into()),
    ] {
        entra_error(
            present(&app, &url, APP_ID, &malformed).await,
            400,
            "invalid_request",
            50027,
        );
    }
}

#[tokio::test]
async fn unsigned_and_wrongly_keyed_assertions_are_refused() {
    let app = spawn_app().await;
    let url = endpoint(&app, &fresh_tenant(), true);
    let c = claims(APP_ID, &url);
    for alg in ["none", "None", "NONE", "nOnE"] {
        for signature in ["", "c2ln"] {
            let unsigned = jws(&json!({"alg": alg, "typ": "JWT"}), &c, signature);
            let r = present(&app, &url, APP_ID, &unsigned).await;
            entra_error(r, 400, "invalid_request", 50027);
        }
    }
    let certificate_der = {
        use base64::Engine;
        let body: String = client_certificate()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    for secret in [client_certificate().as_bytes().to_vec(), certificate_der] {
        let key = EncodingKey::from_secret(&secret);
        let hmac = signed(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &c,
            &key,
            Algorithm::HS256,
        );
        entra_error(
            present(&app, &url, APP_ID, &hmac).await,
            401,
            "invalid_client",
            700027,
        );
    }
    let key = EncodingKey::from_rsa_pem(client_key().as_bytes()).unwrap();
    let critical = signed(
        &json!({"alg": "RS256", "crit": ["exp"], "exp": 0}),
        &c,
        &key,
        Algorithm::RS256,
    );
    entra_error(
        present(&app, &url, APP_ID, &critical).await,
        400,
        "invalid_request",
        50027,
    );
    let mut other = c.clone();
    other["iss"] = "00000000-1111-2222-3333-444444444444".into();
    entra_error(
        present(&app, &url, APP_ID, &assertion(&other)).await,
        401,
        "invalid_client",
        700021,
    );
}
