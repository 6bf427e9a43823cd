//! The token endpoints' HTTP side: `POST /{tenant}/oauth2/v2.0/token` and
//! `POST /{tenant}/oauth2/token` read the form (as `identity::form` says Entra reads it, with an
//! Entra error for a body over the limit), `identity::grant` decides the token, and the answer is
//! Entra's body for the endpoint's version (v1 numbers as strings). Any other method but OPTIONS
//! gets Entra's 400 AADSTS900561, never a bare 405.

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, FromRequest, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::extract::{Origin, PathParam, MAX_BODY_BYTES};
use crate::{
    auth::token::{self as jwt, Claims, TokenSpec, TokenVersion},
    error::{ApiError, Result},
    identity::{
        entra_error, form,
        grant::{grant, TokenRequest, EXPIRES_IN},
        INVALID_REQUEST_CODE,
    },
    state::AppState,
};

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(state): State<AppState>,
    Origin(origin): Origin,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    TokenBody(body): TokenBody,
) -> Result<Response> {
    issue(&state, TokenVersion::V2, origin, tenant, &headers, &body)
}

/// `POST /{tenant}/oauth2/token`.
pub(crate) async fn token_v1(
    State(state): State<AppState>,
    Origin(origin): Origin,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    TokenBody(body): TokenBody,
) -> Result<Response> {
    issue(&state, TokenVersion::V1, origin, tenant, &headers, &body)
}

/// AADSTS900561 (BadResourceRequestInvalidRequest): the token endpoints take POST and OPTIONS.
const WRONG_METHOD_CODE: u32 = 900561;

/// Any method but POST and OPTIONS on a token endpoint: Entra's 400 `invalid_request`
/// AADSTS900561 in its JSON shape (docs/contract/token-service.md §3.1).
pub(crate) async fn wrong_method(State(state): State<AppState>, method: Method) -> ApiError {
    entra_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        WRONG_METHOD_CODE,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
        state.clock().now(),
    )
}

/// OPTIONS on a token endpoint (a CORS preflight, or a client asking what it takes): 200 naming
/// the methods served.
pub(crate) async fn options() -> Response {
    let mut res = StatusCode::OK.into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    res
}

/// A token request's body, read up to the API's limit; over it, or unreadable, an Entra error
/// (axum's own rejection is plain text).
#[derive(Debug)]
pub(crate) struct TokenBody(Bytes);

impl FromRequest<AppState> for TokenBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let now = state.clock().now();
        let body = Bytes::from_request(req, state).await;
        body.map(Self).map_err(|r| unreadable(&r, now))
    }
}

/// Entra's AADSTS9002313 for a body over the limit (413) or one that could not be read (400).
fn unreadable(rejection: &BytesRejection, now: OffsetDateTime) -> ApiError {
    let (status, why) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let why = format!("The request body is larger than the {MAX_BODY_BYTES}-byte limit.");
        (StatusCode::PAYLOAD_TOO_LARGE, why)
    } else {
        let why = format!("The request body could not be read: {rejection}");
        (StatusCode::BAD_REQUEST, why)
    };
    let description = format!("Invalid request. Request is malformed or invalid. {why}");
    entra_error(
        status,
        "invalid_request",
        INVALID_REQUEST_CODE,
        description,
        now,
    )
}

fn issue(
    state: &AppState,
    endpoint: TokenVersion,
    origin: String,
    tenant: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let request = TokenRequest {
        endpoint,
        origin,
        tenant,
        form: form::parse(content_type, body, state.clock().now())?,
        basic: basic_credentials(headers),
    };
    let spec = grant(
        state.directory(),
        &request,
        state.token_version(),
        state.clock().now(),
    )?;
    let claims = jwt::claims_for(&spec);
    let token = jwt::sign(state.keys(), &claims).map_err(ApiError::Internal)?;
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
