//! Discovery (spec §9.4): v1 and v2 OpenID configuration per tenant (and `common`), the JWKS, and
//! MSAL's instance discovery. Every endpoint in them points back at the emulator's own scheme,
//! host and port; issuers stay Entra's, since they are identifiers the tokens carry.

use std::collections::HashMap;

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::extract::{Origin, PathParam};
use crate::{
    auth::token::{v1_issuer, v2_issuer, TokenVersion},
    error::Result,
    identity::tenant_id,
    state::AppState,
};

/// The tenant as it appears in documents: its GUID, or `common`/`organizations`/`consumers`.
fn tenant_label(state: &AppState, segment: &str) -> Result<(String, bool)> {
    match tenant_id(segment, state.clock().now())? {
        Some(tid) => Ok((tid.to_string(), true)),
        None => Ok((segment.to_ascii_lowercase(), false)),
    }
}

fn cached(body: Value) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    res
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_v2(
    State(state): State<AppState>,
    Origin(origin): Origin,
    PathParam(tenant): PathParam,
) -> Result<Response> {
    openid(&state, &origin, &tenant, TokenVersion::V2)
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1).
pub(crate) async fn openid_v1(
    State(state): State<AppState>,
    Origin(origin): Origin,
    PathParam(tenant): PathParam,
) -> Result<Response> {
    openid(&state, &origin, &tenant, TokenVersion::V1)
}

/// One metadata document: the keys both versions share, then each version's own (spec §9.4).
fn openid(state: &AppState, origin: &str, tenant: &str, version: TokenVersion) -> Result<Response> {
    let v2 = version == TokenVersion::V2;
    let (t, specific) = tenant_label(state, tenant)?;
    let id = if specific { t.as_str() } else { "{tenantid}" };
    // v2 endpoints live under `oauth2/v2.0/`, v1 ones under `oauth2/`.
    let oauth = if v2 {
        format!("{origin}/{t}/oauth2/v2.0")
    } else {
        format!("{origin}/{t}/oauth2")
    };
    let mut doc = shared_metadata(origin, &t, &oauth);
    let own = if v2 {
        v2_metadata(origin, &t, id)
    } else {
        v1_metadata(origin, &t, id, &oauth)
    };
    if let (Value::Object(d), Value::Object(o)) = (&mut doc, own) {
        d.extend(o);
    }
    Ok(cached(doc))
}

/// The keys both versions' documents carry, for tenant label `t` and its `oauth` endpoint base.
fn shared_metadata(origin: &str, t: &str, oauth: &str) -> Value {
    json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{oauth}/logout"),
        "kerberos_endpoint": format!("{origin}/{t}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

/// The v2 document's own keys: per-tenant key set, OIDC scopes, the v2 issuer for `id`.
fn v2_metadata(origin: &str, t: &str, id: &str) -> Value {
    json!({
        "jwks_uri": format!("{origin}/{t}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": v2_issuer(id),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
    })
}

/// The v1 document's own keys: the `common` key set, the v1 issuer for `id`, session endpoints.
fn v1_metadata(origin: &str, t: &str, id: &str, oauth: &str) -> Value {
    json!({
        "jwks_uri": format!("{origin}/common/discovery/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(id),
        "microsoft_multi_refresh_token": true,
        "check_session_iframe": format!("{oauth}/checksession"),
        "userinfo_endpoint": format!("{origin}/{t}/openid/userinfo"),
    })
}

fn jwks(state: &AppState, issuer: Option<String>) -> Response {
    let k = state.keys();
    let mut key = json!({
        "kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid, "n": k.n, "e": k.e, "x5c": [k.x5c],
    });
    if let Some(iss) = issuer {
        key["issuer"] = json!(iss);
    }
    cached(json!({"keys": [key]}))
}

/// `GET /{tenant}/discovery/v2.0/keys`: v2 key sets carry the issuer.
pub(crate) async fn keys_v2(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
) -> Result<Response> {
    let (t, specific) = tenant_label(&state, &tenant)?;
    let issuer = if specific {
        v2_issuer(&t)
    } else {
        v2_issuer("{tenantid}")
    };
    Ok(jwks(&state, Some(issuer)))
}

/// `GET /{tenant}/discovery/keys` (v1; clients use `common`).
pub(crate) async fn keys_v1(
    State(state): State<AppState>,
    PathParam(tenant): PathParam,
) -> Result<Response> {
    tenant_label(&state, &tenant)?;
    Ok(jwks(&state, None))
}

/// `GET /common/userrealm/{username}?api-version=1.0`: MSAL's user-realm lookup before the
/// password grant. Every emulated account is cloud-managed (no federation).
pub(crate) async fn user_realm(PathParam(username): PathParam) -> Response {
    let domain = username.rsplit_once('@').map_or("", |(_, d)| d).to_owned();
    Json(json!({
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }))
    .into_response()
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...` (MSAL).
pub(crate) async fn instance(Origin(origin): Origin, RawQuery(raw): RawQuery) -> Response {
    let q: HashMap<String, String> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let host = origin.split("://").nth(1).unwrap_or(&origin).to_owned();
    // The tenant is the first path segment of the authorization endpoint, if one was given.
    let tenant = q
        .get("authorization_endpoint")
        .and_then(|a| a.split("://").nth(1))
        .and_then(|rest| rest.split('/').nth(1))
        .filter(|t| !t.is_empty())
        .unwrap_or("common")
        .to_owned();
    Json(json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
    .into_response()
}
