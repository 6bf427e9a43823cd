//! Client authentication at the token endpoints (spec §9.2): a client secret in the form or in
//! HTTP Basic, or a `client_assertion` JWT signed with a certificate registered for the app (its
//! claims are judged in `assertion`).

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};

use super::{
    assertion::{check_claims, Endpoint},
    grant::TokenRequest,
    replay::SeenAssertions,
    AppRegistration, Ctx,
};
use crate::error::Result;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Client authentication for `request` to tenant `tid`'s token endpoint: a certificate-signed
/// assertion (a single-use app's is recorded in `seen`), or a secret (form or Basic).
pub(super) fn authenticate_client(
    ctx: &Ctx,
    app: &AppRegistration,
    request: &TokenRequest,
    tid: &str,
    seen: &SeenAssertions,
) -> Result<()> {
    let form = &request.form;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(ctx.bad(
                "invalid_request",
                700013,
                format!("The client_assertion_type must be '{JWT_BEARER}'."),
            ));
        }
        let claims = verify_assertion(ctx, app, assertion)?;
        let endpoint = Endpoint {
            origin: &request.origin,
            tid,
        };
        return check_claims(ctx, app, &claims, endpoint, seen);
    }
    let basic_secret = request.basic.as_ref().map(|(_, s)| s);
    let secret = form.get("client_secret").or(basic_secret);
    match secret {
        Some(s) if app.secrets.contains(s) => Ok(()),
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

/// The claims of `assertion` once its signature verifies with one of `app`'s certificates.
fn verify_assertion(
    ctx: &Ctx,
    app: &AppRegistration,
    assertion: &str,
) -> Result<serde_json::Value> {
    let malformed = || {
        ctx.bad(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let header = decode_header(assertion).map_err(|_| malformed())?;
    if marks_extensions_critical(assertion) {
        // RFC 7515 §4.1.11: extensions marked critical that the recipient does not understand
        // (this one understands none) make the JWS invalid.
        return Err(ctx.bad(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed. Its header marks extensions critical ('crit'), and none is supported.",
        ));
    }
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
    Ok(claims)
}

/// True when the JWS header of `jwt` has a `crit` member.
fn marks_extensions_critical(jwt: &str) -> bool {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let header = jwt.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.get("crit").is_some())
}
