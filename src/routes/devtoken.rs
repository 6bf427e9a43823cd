//! `POST /_mock/token`: a development token minted with the emulator's key at the emulator's
//! clock, so it stays valid however far the clock was advanced (`defender-mock token --server`
//! uses it). Every Machine.* (and Alert.*, Ti.*) app role by default.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
    Json,
};
use serde::Deserialize;
use serde_json::json;

use super::{admin::Handler, extract::JsonBody};
use crate::{
    auth::{
        permissions::{all_roles, all_scopes, dev},
        token::{mint, TokenSpec, TokenVersion},
    },
    error::{ApiError, Code, Result},
    model::TenantId,
    state::AppState,
};

/// The longest lifetime a development token may have: ten years (as `token --ttl`).
const MAX_TTL: i64 = 10 * 365 * 86_400;

/// This module's control-plane route.
pub(super) static ROUTES: &[(&str, Handler)] = &[("/_mock/token", || post(dev_token))];

/// The body of `POST /_mock/token`; every field optional.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    tenant: Option<String>,
    roles: Option<Vec<String>>,
    /// Delegated scopes; makes it a user token.
    scopes: Option<Vec<String>>,
    /// The user's UPN; makes it a user token.
    user: Option<String>,
    ttl_seconds: Option<i64>,
    app_id: Option<String>,
    app_name: Option<String>,
    audience: Option<String>,
    /// `1` (default) or `2`: the token's shape.
    version: Option<u8>,
}

async fn dev_token(State(state): State<AppState>, body: JsonBody) -> Result<Response> {
    let req: TokenRequest = if body.is_empty() {
        serde_json::from_value(json!({}))
    } else {
        serde_json::from_value(serde_json::Value::Object(body.object()?))
    }
    .map_err(|e| ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}")))?;
    let tenant = match req.tenant {
        None => dev::TENANT_ID.to_owned(),
        Some(t) => {
            TenantId::parse(&t).ok_or_else(|| {
                ApiError::bad_request(
                    Code::InvalidInput,
                    format!("Invalid input {t:?}: a tenant is a GUID or a domain name"),
                )
            })?;
            t
        }
    };
    let ttl = req.ttl_seconds.unwrap_or(3599);
    if !(-MAX_TTL..=MAX_TTL).contains(&ttl) {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input {ttl}: ttlSeconds must be between -{MAX_TTL} and {MAX_TTL}"),
        ));
    }
    let version = match req.version {
        None | Some(1) => TokenVersion::V1,
        Some(2) => TokenVersion::V2,
        Some(v) => {
            return Err(ApiError::bad_request(
                Code::InvalidInput,
                format!("Invalid input {v}: version is 1 or 2"),
            ))
        }
    };
    let delegated = req.scopes.is_some() || req.user.is_some();
    let app_id = req.app_id.unwrap_or_else(|| dev::APP_ID.to_owned());
    let app_name = req
        .app_name
        .or_else(|| (app_id == dev::APP_ID).then(|| dev::APP_NAME.to_owned()));
    let now = state.clock().now();
    let spec = TokenSpec {
        tenant,
        app_id,
        app_name,
        roles: req.roles.unwrap_or_else(all_roles),
        scp: delegated.then(|| req.scopes.unwrap_or_else(all_scopes).join(" ")),
        upn: delegated.then(|| req.user.unwrap_or_else(|| dev::USER_UPN.to_owned())),
        audience: req.audience,
        ttl_secs: ttl,
        version,
        now,
    };
    let token = mint(state.keys(), &spec)
        .map_err(|e| ApiError::bad_request(Code::InvalidInput, format!("Invalid input: {e}")))?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_on": now.unix_timestamp() + ttl,
    }))
    .into_response())
}
