//! Entra-shaped access tokens: the claims the MDE API relies on (spec §9.3), minting them, and the
//! pure signature / issuer check. Time (`exp`, `nbf`) is checked by the caller against the
//! emulator clock, because verified claims are cached while the clock can move.

use std::collections::HashSet;

use jsonwebtoken::{decode, Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    keys::Keys,
    permissions::{dev, MDE_APP_ID},
};

/// Shape of issued tokens: v1 (what the MDE resource gets from Entra) or v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TokenVersion {
    #[default]
    V1,
    V2,
}

/// Entra back-dates `iat`/`nbf` by five minutes to absorb clock skew; so do we.
pub(crate) const BACKDATE_SECS: i64 = 300;

/// The claims of an access token. Unknown claims are ignored; absent optional ones stay `None`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azpacr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default)]
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
}

impl Claims {
    /// The calling app: `appid` (v1) or `azp` (v2).
    pub(crate) fn app_id(&self) -> &str {
        self.appid
            .as_deref()
            .or(self.azp.as_deref())
            .unwrap_or_default()
    }

    /// The signed-in user, for delegated tokens.
    pub(crate) fn user(&self) -> Option<&str> {
        self.upn
            .as_deref()
            .or(self.unique_name.as_deref())
            .or(self.preferred_username.as_deref())
    }

    /// Delegated tokens carry `scp`; app tokens do not.
    pub(crate) fn is_delegated(&self) -> bool {
        self.scp.is_some()
    }
}

/// What to put in a minted token.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub tenant: String,
    pub app_id: String,
    pub app_name: Option<String>,
    pub roles: Vec<String>,
    /// Space-separated delegated scopes; makes it a user token.
    pub scp: Option<String>,
    pub upn: Option<String>,
    /// `None`: the MDE App ID URI (v1) or the MDE appId (v2).
    pub audience: Option<String>,
    pub ttl_secs: i64,
    pub version: TokenVersion,
    pub now: OffsetDateTime,
}

impl Default for TokenSpec {
    fn default() -> Self {
        Self {
            tenant: dev::TENANT_ID.to_owned(),
            app_id: dev::APP_ID.to_owned(),
            app_name: Some(dev::APP_NAME.to_owned()),
            roles: Vec::new(),
            scp: None,
            upn: None,
            audience: None,
            ttl_secs: 3599,
            version: TokenVersion::V1,
            now: OffsetDateTime::now_utc(),
        }
    }
}

/// The v1 issuer of a tenant.
pub(crate) fn v1_issuer(tid: &str) -> String {
    format!("https://sts.windows.net/{tid}/")
}

/// The v2 issuer of a tenant.
pub(crate) fn v2_issuer(tid: &str) -> String {
    format!("https://login.microsoftonline.com/{tid}/v2.0")
}

/// The claims a token for `spec` carries (v1 shape unless `spec.v2`).
pub(crate) fn claims_for(spec: &TokenSpec) -> Claims {
    let user = spec.scp.is_some();
    let upn = spec.upn.clone().filter(|_| user);
    let mut c = shared_claims(spec, user, upn.as_deref());
    if spec.version == TokenVersion::V2 {
        add_v2_claims(&mut c, spec, user, upn);
    } else {
        add_v1_claims(&mut c, spec, user, upn);
    }
    c
}

/// The claims both shapes carry: times, token type, the object id (of the user, else the app,
/// also the subject), roles (app tokens) or scopes (user tokens), tenant and a fresh `uti`.
fn shared_claims(spec: &TokenSpec, user: bool, upn: Option<&str>) -> Claims {
    let now = spec.now.unix_timestamp();
    let mut c = Claims {
        iat: now - BACKDATE_SECS,
        nbf: now - BACKDATE_SECS,
        exp: now.saturating_add(spec.ttl_secs),
        aio: Some("E2dgYNhlmPv/LMzdb+tGN4q8bA3dAA==".to_owned()),
        idtyp: Some(if user { "user" } else { "app" }.to_owned()),
        oid: Some(
            Uuid::new_v5(&Uuid::NAMESPACE_OID, upn.unwrap_or(&spec.app_id).as_bytes()).to_string(),
        ),
        roles: if user { Vec::new() } else { spec.roles.clone() },
        scp: spec.scp.clone(),
        tid: spec.tenant.clone(),
        uti: Some(Uuid::new_v4().simple().to_string()),
        ..Claims::default()
    };
    c.sub = c.oid.clone();
    c
}

/// The v2 shape: MDE's appId as default audience, the v2 issuer, `azp`, the user's name.
fn add_v2_claims(c: &mut Claims, spec: &TokenSpec, user: bool, upn: Option<String>) {
    c.aud = spec
        .audience
        .clone()
        .unwrap_or_else(|| MDE_APP_ID.to_owned());
    c.iss = v2_issuer(&spec.tenant);
    c.azp = Some(spec.app_id.clone());
    c.azpacr = Some(if user { "0" } else { "1" }.to_owned());
    c.preferred_username = upn.clone();
    c.name = upn;
    c.ver = Some("2.0".to_owned());
}

/// The v1 shape: MDE's URI as default audience, the v1 issuer and `idp`, `appid` and the app's
/// display name, the user's `upn`.
fn add_v1_claims(c: &mut Claims, spec: &TokenSpec, user: bool, upn: Option<String>) {
    c.aud = spec
        .audience
        .clone()
        .unwrap_or_else(|| dev::MDE_AUDIENCE.to_owned());
    c.iss = v1_issuer(&spec.tenant);
    c.idp = Some(v1_issuer(&spec.tenant));
    c.appid = Some(spec.app_id.clone());
    c.appidacr = Some(if user { "0" } else { "1" }.to_owned());
    c.app_displayname = spec.app_name.clone();
    c.unique_name = upn.clone();
    c.name = upn.clone();
    c.upn = upn;
    c.ver = Some("1.0".to_owned());
}

/// Signs `claims` with the emulator key (RS256, `kid`; v1 tokens also carry `x5t`, as Entra's do):
/// the JWS compact form jsonwebtoken's `encode` writes, signed with the key pair `Keys` parsed
/// once rather than from its DER on every call.
pub(crate) fn sign(keys: &Keys, claims: &Claims) -> Result<String, String> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(keys.kid.clone());
    if claims.ver.as_deref() != Some("2.0") {
        header.x5t = Some(keys.kid.clone());
    }
    let unwritable = |e: serde_json::Error| format!("cannot sign token: {e}");
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(unwritable)?);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(unwritable)?, &mut token);
    let signature = keys.sign_rs256(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// A token that could not be signed (the key cannot sign RS256).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MintError(String);

/// Mints a token for `spec`, signed with `keys`.
pub fn mint(keys: &Keys, spec: &TokenSpec) -> Result<String, MintError> {
    sign(keys, &claims_for(spec)).map_err(MintError)
}

/// Why a token was refused (the 401's message says it, with the times in RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the access token's issuer {0:?} is not Entra's issuer for its tenant")]
    UnknownIssuer(String),
    #[error("the access token expired at {}", rfc3339(*.0))]
    Expired(i64),
    #[error("the access token is not valid before {}", rfc3339(*.0))]
    NotYetValid(i64),
}

/// Unix seconds as RFC 3339 (UTC), as the 401 messages write times.
pub(crate) fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

/// Checks signature, algorithm and issuer. Not time: see the module doc.
pub(crate) fn verify_signature(keys: &Keys, token: &str) -> Result<Claims, TokenError> {
    refuse_critical_extensions(token)?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims = HashSet::new();
    let claims = decode::<Claims>(token, &keys.decoding, &v)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            TokenError::Invalid(match e.kind() {
                ErrorKind::InvalidSignature => {
                    "bad signature: it was not signed with this emulator's signing key".to_owned()
                }
                ErrorKind::InvalidAlgorithm => "it is not signed with RS256".to_owned(),
                _ => format!("malformed token ({e})"),
            })
        })?
        .claims;
    let tid = claims.tid.as_str();
    if tid.is_empty() || (claims.iss != v1_issuer(tid) && claims.iss != v2_issuer(tid)) {
        return Err(TokenError::UnknownIssuer(claims.iss));
    }
    Ok(claims)
}

/// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` header lists extensions it
/// does not understand, and this one understands none.
fn refuse_critical_extensions(token: &str) -> Result<(), TokenError> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let header = token.split('.').next().unwrap_or_default();
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header) else {
        return Ok(()); // malformed: the signature check says so
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(h) if h.get("crit").is_some() => Err(TokenError::Invalid(format!(
            "the token's header marks extensions critical ({}), and none is supported",
            h["crit"]
        ))),
        _ => Ok(()),
    }
}

/// Checks `nbf <= now < exp`, in seconds of the emulator clock.
pub(crate) fn check_time(claims: &Claims, now: OffsetDateTime) -> Result<(), TokenError> {
    let now = now.unix_timestamp();
    if now >= claims.exp {
        return Err(TokenError::Expired(claims.exp));
    }
    if now < claims.nbf {
        return Err(TokenError::NotYetValid(claims.nbf));
    }
    Ok(())
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
