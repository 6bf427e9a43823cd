//! The token endpoints (spec §9.2): `POST /{tenant}/oauth2/v2.0/token` (`scope=<resource>/.default`)
//! and `POST /{tenant}/oauth2/token` (`resource=`), grants `client_credentials` (secret in the
//! form or HTTP Basic, or a `client_assertion` signed with a registered certificate) and
//! `password`. Tokens are v1-shaped from both, as the MDE resource asks for (spec §9.3).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    client_auth::{authenticate_client, basic_credentials},
    tenant_id, AppRegistration, Ctx,
};
use crate::{
    auth::{
        permissions::{ACCEPTED_AUDIENCES, MDE_APP_ID},
        token::{self as jwt, TokenSpec},
    },
    config::TokenVersion,
    error::{ApiError, Result},
    routes::extract::PathParam,
    state::AppState,
};

/// Lifetime of issued tokens, as Entra reports it.
const EXPIRES_IN: i64 = 3599;
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];
/// Resources Entra knows besides MDE: tokens for them are issued (without MDE roles), and the
/// MDE API then refuses them with 403, as the real one does.
const OTHER_RESOURCES: &[&str] = &[
    "https://api.security.microsoft.com",
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    issue(&state, Version::V2, &tenant, &headers, &body)
}

/// `POST /{tenant}/oauth2/token`.
pub(crate) async fn token_v1(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    issue(&state, Version::V1, &tenant, &headers, &body)
}

fn issue(
    state: &AppState,
    version: Version,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    let ctx = Ctx {
        now: state.clock.now(),
    };
    let tid = tenant_id(tenant, ctx.now)?.ok_or_else(|| {
        ctx.bad(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        )
    })?;
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let basic = basic_credentials(headers);
    let grant = form
        .get("grant_type")
        .ok_or_else(|| ctx.missing("grant_type"))?;
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| ctx.missing("client_id"))?;
    let app = state.directory.app(&client_id, &tid).ok_or_else(|| {
        ctx.bad(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tid}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    })?;
    let spec = match grant.as_str() {
        "client_credentials" => {
            authenticate_client(&ctx, app, &form, basic.map(|(_, s)| s))?;
            let resource = client_credentials_resource(&ctx, version, &form)?;
            check_resource(&ctx, &resource, &tid)?;
            TokenSpec {
                roles: if is_mde(&resource) {
                    app.roles.clone()
                } else {
                    Vec::new()
                },
                ..base_spec(state, app, &tid, &resource, ctx.now)
            }
        }
        "password" => {
            let username = form
                .get("username")
                .ok_or_else(|| ctx.missing("username"))?;
            let password = form
                .get("password")
                .ok_or_else(|| ctx.missing("password"))?;
            let user = state
                .directory
                .user(username, &tid)
                .filter(|u| u.password == *password)
                .ok_or_else(|| {
                    ctx.bad(
                        "invalid_grant",
                        50126,
                        "Error validating credentials due to invalid username or password.",
                    )
                })?;
            let (resource, requested) = password_resource(&ctx, version, &form)?;
            check_resource(&ctx, &resource, &tid)?;
            let held = user.scopes();
            let granted: Vec<String> = match requested {
                Some(req) => held.into_iter().filter(|s| req.contains(s)).collect(),
                None => held,
            };
            TokenSpec {
                scp: Some(if is_mde(&resource) {
                    granted.join(" ")
                } else {
                    String::new()
                }),
                upn: Some(user.upn.clone()),
                ..base_spec(state, app, &tid, &resource, ctx.now)
            }
        }
        other => {
            return Err(ctx.bad(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
    };
    let claims = jwt::claims_for(&spec);
    let token = jwt::sign(state.auth.keys(), &claims).map_err(ApiError::Internal)?;
    let body = match version {
        Version::V2 => {
            let mut b = json!({"token_type": "Bearer", "expires_in": EXPIRES_IN, "ext_expires_in": EXPIRES_IN, "access_token": token});
            if let Some(scp) = &claims.scp {
                b["scope"] = json!(scp
                    .split_whitespace()
                    .map(|s| format!("{}/{s}", spec.audience.as_deref().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" "));
            }
            b
        }
        Version::V1 => json!({
            "token_type": "Bearer",
            "expires_in": EXPIRES_IN.to_string(),
            "ext_expires_in": EXPIRES_IN.to_string(),
            "expires_on": claims.exp.to_string(),
            "not_before": claims.nbf.to_string(),
            "resource": spec.audience.clone().unwrap_or_default(),
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
    Ok(res)
}

fn base_spec(
    state: &AppState,
    app: &AppRegistration,
    tid: &str,
    resource: &str,
    now: OffsetDateTime,
) -> TokenSpec {
    let v2 = state.token_version == TokenVersion::V2;
    TokenSpec {
        tenant: tid.to_owned(),
        app_id: app.client_id.clone(),
        app_name: Some(app.display_name.clone()),
        // v2 tokens name the resource by its appId, as Entra's do.
        audience: Some(if v2 && is_mde(resource) {
            MDE_APP_ID.to_owned()
        } else {
            resource.to_owned()
        }),
        ttl_secs: EXPIRES_IN,
        v2,
        now,
        ..TokenSpec::default()
    }
}

/// The resource of a client-credentials request: v2 `scope=<resource>/.default`, v1 `resource=`.
fn client_credentials_resource(
    ctx: &Ctx,
    version: Version,
    form: &HashMap<String, String>,
) -> Result<String> {
    if version == Version::V1 {
        return form
            .get("resource")
            .map(|r| normalize_resource(r))
            .ok_or_else(|| ctx.missing("resource"));
    }
    let scope = form.get("scope").ok_or_else(|| ctx.missing("scope"))?;
    let items: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    match items.as_slice() {
        [one] => one.strip_suffix("/.default").map(normalize_resource).ok_or_else(|| {
            ctx.bad(
                "invalid_scope",
                1002012,
                format!("The provided value for scope {one} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            )
        }),
        _ => Err(ctx.bad(
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        )),
    }
}

/// The resource of a password request and the scopes asked for (`None` = `.default`, all held).
fn password_resource(
    ctx: &Ctx,
    version: Version,
    form: &HashMap<String, String>,
) -> Result<(String, Option<Vec<String>>)> {
    if version == Version::V1 {
        let r = form
            .get("resource")
            .ok_or_else(|| ctx.missing("resource"))?;
        return Ok((normalize_resource(r), None));
    }
    let scope = form.get("scope").ok_or_else(|| ctx.missing("scope"))?;
    let mut resource: Option<String> = None;
    let mut wanted = Vec::new();
    let mut all = false;
    for item in scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
    {
        let bad = || {
            ctx.bad(
                "invalid_scope",
                70011,
                format!("The provided value for the input parameter 'scope' is not valid. The scope {item} is not valid."),
            )
        };
        let (res, name) = item.rsplit_once('/').ok_or_else(bad)?;
        let res = normalize_resource(res);
        if resource.as_ref().is_some_and(|r| *r != res) {
            return Err(ctx.bad("invalid_scope", 28000, "Provided value for the input parameter scope is not valid because it contains more than one resource."));
        }
        resource = Some(res);
        if name == ".default" {
            all = true;
        } else {
            wanted.push(name.to_owned());
        }
    }
    let resource = resource.ok_or_else(|| {
        ctx.bad("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid: it names no resource.")
    })?;
    Ok((resource, (!all).then_some(wanted)))
}

/// `api://{appId}` and a trailing slash name the same resource as the bare form.
fn normalize_resource(r: &str) -> String {
    let r = r.trim().trim_end_matches('/');
    r.strip_prefix("api://").unwrap_or(r).to_owned()
}

fn is_mde(resource: &str) -> bool {
    ACCEPTED_AUDIENCES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(resource))
}

fn check_resource(ctx: &Ctx, resource: &str, tid: &str) -> Result<()> {
    if is_mde(resource)
        || OTHER_RESOURCES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(resource))
    {
        return Ok(());
    }
    Err(ctx.bad(
        "invalid_resource",
        500011,
        format!("The resource principal named {resource} was not found in the tenant named {tid}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
    ))
}
