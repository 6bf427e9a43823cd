//! The token endpoints' HTTP side: `POST /{tenant}/oauth2/v2.0/token` and
//! `POST /{tenant}/oauth2/token` read the form, `identity::grant` decides the token, and the
//! answer is Entra's body for the endpoint's version (v1 numbers as strings).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use super::extract::PathParam;
use crate::{
    auth::token::{self as jwt, Claims, TokenSpec, TokenVersion},
    error::{ApiError, Result},
    identity::grant::{grant, TokenRequest, EXPIRES_IN},
    state::AppState,
};

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    issue(&state, TokenVersion::V2, tenant, &headers, &body)
}

/// `POST /{tenant}/oauth2/token`.
pub(crate) async fn token_v1(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    issue(&state, TokenVersion::V1, tenant, &headers, &body)
}

fn issue(
    state: &AppState,
    endpoint: TokenVersion,
    tenant: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let request = TokenRequest {
        endpoint,
        tenant,
        form: form_urlencoded::parse(body)
            .into_owned()
            .collect::<HashMap<_, _>>(),
        basic: basic_credentials(headers),
    };
    let spec = grant(
        state.directory(),
        &request,
        state.token_version(),
        state.clock().now(),
    )?;
    let claims = jwt::claims_for(&spec);
    let token = jwt::issue(state.keys(), &claims).map_err(ApiError::Internal)?;
    Ok(render(endpoint, &spec, &claims, token))
}

/// Entra's success body for the endpoint's version, never cached.
fn render(endpoint: TokenVersion, spec: &TokenSpec, claims: &Claims, token: String) -> Response {
    let audience = spec.audience.clone().unwrap_or_default();
    let body: Value = match endpoint {
        TokenVersion::V2 => {
            let mut b = json!({"token_type": "Bearer", "expires_in": EXPIRES_IN, "ext_expires_in": EXPIRES_IN, "access_token": token});
            if let Some(scp) = &claims.scp {
                b["scope"] = json!(scp
                    .split_whitespace()
                    .map(|s| format!("{audience}/{s}"))
                    .collect::<Vec<_>>()
                    .join(" "));
            }
            b
        }
        TokenVersion::V1 => json!({
            "token_type": "Bearer",
            "expires_in": EXPIRES_IN.to_string(),
            "ext_expires_in": EXPIRES_IN.to_string(),
            "expires_on": claims.exp.to_string(),
            "not_before": claims.nbf.to_string(),
            "resource": audience,
            "access_token": token,
        }),
    };
    let mut res = Json(body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// `client_id:client_secret` from `Authorization: Basic` (each part form-URL-encoded, RFC 6749).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}
