//! The Entra-shaped identity side: token grants, Entra errors, discovery, JWKS, delegated users.
//! Shared here: the token request and what a token endpoint answers.

mod client_credentials;
mod delegated;
mod discovery;
mod identifier_uris;
mod token_errors;

use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

pub(crate) async fn token_request(
    app: &TestApp,
    tenant: &str,
    v2: bool,
    form: &[(&str, &str)],
) -> TestResponse {
    let path = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    app.send(Req::post(format!("/{tenant}/{path}")).form(form))
        .await
}

pub(crate) fn access_token(r: TestResponse) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts an Entra error body and returns it.
pub(crate) fn entra_error(r: TestResponse, status: u16, error: &str, code: u32) -> Value {
    assert_eq!(r.status().as_u16(), status);
    let b: Value = r.json();
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

pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
