//! Client authentication at the token endpoints (spec §9.2): a client secret in the form or in
//! HTTP Basic, or a `client_assertion` JWT signed with a certificate registered for the app.

use std::collections::HashMap;

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use time::OffsetDateTime;

use super::{AppRegistration, Ctx};
use crate::error::Result;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Client authentication: a certificate-signed assertion, or a secret (form or Basic).
pub(super) fn authenticate_client(
    ctx: &Ctx,
    app: &AppRegistration,
    form: &HashMap<String, String>,
    basic_secret: Option<String>,
) -> Result<()> {
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(ctx.bad(
                "invalid_request",
                700013,
                format!("The client_assertion_type must be '{JWT_BEARER}'."),
            ));
        }
        return verify_assertion(ctx, app, assertion);
    }
    let secret = form.get("client_secret").cloned().or(basic_secret);
    match secret {
        Some(s) if app.secrets.contains(&s) => Ok(()),
        Some(_) => Err(ctx.unauthorized(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        )),
        None => Err(ctx.unauthorized(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

/// Skew allowed on a client assertion's `exp`, which the client sets from its own wall clock.
const ASSERTION_SKEW_SECS: i64 = 300;

fn verify_assertion(ctx: &Ctx, app: &AppRegistration, assertion: &str) -> Result<()> {
    let malformed = || {
        ctx.bad(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let header = decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(ctx.unauthorized(
            700027,
            "Client assertion contains an invalid signature algorithm.",
        ));
    }
    let mut v = Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims = Default::default();
    let claims: serde_json::Value = app
        .keys
        .iter()
        .find_map(|key| {
            // Claims as plain JSON: MSAL writes `exp` as a float, and a claim of an odd type is
            // a malformed assertion, not a bad signature.
            decode::<serde_json::Value>(assertion, key, &v)
                .inspect_err(|e| tracing::debug!(error = %e, alg = ?header.alg, "client assertion refused by a registered certificate"))
                .ok()
        })
        .ok_or_else(|| ctx.unauthorized(700027, "Client assertion failed signature validation."))?
        .claims;
    check_assertion_claims(ctx, app, &claims)
}

/// The claims of a correctly signed assertion: issuer and subject are the app, `exp` not past
/// (by wall time, with skew), and the audience a token endpoint.
fn check_assertion_claims(
    ctx: &Ctx,
    app: &AppRegistration,
    claims: &serde_json::Value,
) -> Result<()> {
    let malformed = || {
        ctx.bad(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let text = |k: &str| claims[k].as_str().unwrap_or_default();
    let exp = claims["exp"].as_f64().ok_or_else(malformed)? as i64;
    if !text("iss").eq_ignore_ascii_case(&app.client_id)
        || !text("sub").eq_ignore_ascii_case(&app.client_id)
    {
        return Err(ctx.unauthorized(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    // The client sets `exp` from its wall clock, not the emulator's: judge it by wall time.
    if exp.saturating_add(ASSERTION_SKEW_SECS) < OffsetDateTime::now_utc().unix_timestamp() {
        return Err(ctx.unauthorized(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let aud_ok = |a: &str| a.contains("/oauth2/") && a.ends_with("token");
    let audience_ok = match &claims["aud"] {
        serde_json::Value::String(a) => aud_ok(a),
        serde_json::Value::Array(items) => items.iter().filter_map(|a| a.as_str()).any(aud_ok),
        _ => false,
    };
    if !audience_ok {
        return Err(ctx.unauthorized(
            700212,
            "The audience of the client assertion is not a token endpoint.",
        ));
    }
    Ok(())
}
